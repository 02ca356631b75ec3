"""Fixtures for the Telegram adapter tests: recorded payloads, the fake Bot API server, adapters.

Tests that need the fake server (every end-to-end test) skip with the reason when the Bot API spec
is not at ``../shared/data/telegram-bot-api-spec/api.json``; the server checks every request against
it, and a test fails at teardown when any request broke the spec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from fake_bot_api import SPEC_PATH, ApiSpec, FakeBotApi
from telegram_support import BOT_USERNAME, TOKEN


@pytest.fixture(scope="session")
def spec() -> ApiSpec:
    """The Bot API spec, or a skip when this checkout has no ../shared/data beside it."""
    if not SPEC_PATH.is_file():
        pytest.skip(f"Telegram Bot API spec not found at {SPEC_PATH}; the fake server needs it")
    return ApiSpec(SPEC_PATH)


@pytest.fixture
def token() -> str:
    """The bot token the fake server accepts."""
    return TOKEN


@pytest.fixture
async def api(spec: ApiSpec) -> AsyncIterator[FakeBotApi]:
    """A running fake Bot API; fails the test at teardown if any request broke the spec."""
    server = FakeBotApi(TOKEN, bot_username=BOT_USERNAME, spec=spec)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
    assert server.violations == [], "requests that break the Bot API spec:\n" + "\n".join(
        server.violations
    )


@pytest.fixture
async def adapters() -> AsyncIterator[list[Any]]:
    """Adapters a test started; stopped at teardown (in reverse order) if the test did not."""
    started: list[Any] = []
    yield started
    for adapter in reversed(started):
        await adapter.close()


@pytest.fixture
def make_adapter(api: FakeBotApi, adapters: list[Any]) -> Iterator[Callable[..., Any]]:
    """Build a ``TelegramAdapter`` pointed at the fake server (not yet started)."""
    from bot.adapters.telegram import TelegramAdapter

    def factory(journal: Callable[..., Any], **options: Any) -> TelegramAdapter:
        options.setdefault("base_url", api.base_url)
        options.setdefault("aliases", ["政务助手"])
        options.setdefault("poll_timeout", 2.0)
        adapter = TelegramAdapter(TOKEN, journal, **options)
        adapters.append(adapter)
        return adapter

    yield factory
