"""No secret in any log at any level: the whole bot (store, dispatcher, handlers, python-telegram-bot,
httpx, tornado, SQLAlchemy) runs in webhook mode against the fake Bot API with every logger at DEBUG,
and everything logged is searched for the bot token, the webhook secret and the database password."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import aiohttp
import pytest
from fake_bot_api import FakeBotApi
from telegram_support import TOKEN, free_port
from test_telegram_e2e import ENV, GROUP, SECRET, WANG, ZHANG, settings_for

PASSWORD = "Db-Passw0rd-for-minyi"
"""The local PostgreSQL trusts loopback connections, so any password connects: it is here to be hidden."""


class Everything(logging.Handler):
    """Keeps every record of every logger, formatted with its traceback, and the loggers' names."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.text = io.StringIO()
        self.names: set[str] = set()
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.names.add(record.name)
        self.text.write(self.format(record) + "\n")


@pytest.fixture
def all_logs() -> Iterator[Everything]:
    """Every logger at DEBUG, each record kept (loggers that do not propagate included)."""
    handler = Everything()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in list(logging.root.manager.loggerDict)}
    saved_root = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    for name in saved:
        logger = logging.getLogger(name)
        logger.setLevel(logging.NOTSET)
        if not logger.propagate:
            logger.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_root)
        for name, level in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            if handler in logger.handlers:
                logger.removeHandler(handler)


def with_password(db_url: str) -> str:
    """``db_url`` with a password, for the server engine (a file has none)."""
    return db_url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


async def test_a_full_webhook_run_at_debug_logs_no_secret(
    api: FakeBotApi, tmp_path, db_url, all_logs
):
    from bot.app import build_app

    port = free_port()
    settings = settings_for(api, tmp_path / "unused.db", "webhook", port)
    settings.database.url = with_password(db_url)
    settings.database.echo = True  # SQLAlchemy's own statement log too
    api.open_private_chat(ZHANG)
    app = build_app(settings)
    try:
        assert await app.start_platforms(env=ENV) == ["telegram"]
        api.say(
            GROUP, WANG, "@minyi_test_bot 3号楼电梯坏了，什么时候修？", mention="@minyi_test_bot"
        )
        await api.wait_sent(GROUP["id"], contains="Q1")
        [alert] = await api.wait_sent(ZHANG["id"], contains="Q1")
        api.press(ZHANG, alert, "pick:1:1")
        await api.wait_sent(GROUP["id"], contains="答复】")
        # A forged update (wrong secret) is refused and logged.
        async with aiohttp.ClientSession() as session:
            forged = await session.post(
                settings.telegram.webhook_url,
                json={"update_id": 999, "message": {}},
                headers={"X-Telegram-Bot-Api-Secret-Token": "guess"},
            )
            assert forged.status == 403
    finally:
        await app.close_platforms()
        app.close()
    logged = all_logs.text.getvalue()
    # The run was logged, by the libraries too: the search below had something to search.
    for library in ("telegram", "httpx", "sqlalchemy.engine", "bot.adapters.telegram"):
        assert any(n == library or n.startswith(library + ".") for n in all_logs.names), library
    assert "setWebhook" in logged and "refused a webhook request" in logged
    for secret in (TOKEN, TOKEN.split(":")[1], SECRET, PASSWORD):
        assert secret not in logged, secret
