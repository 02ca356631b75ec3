"""Fixtures for the WeChat adapter tests: the fake puppet service, adapters, an app with WeChat on.

Every test module here starts with ``pytest.importorskip("bot.adapters.wechat")``, so without the
``minyi[wechat]`` extra the folder is skipped with that reason; this conftest imports nothing of
wechaty at module level for the same reason. wechaty keeps process-global caches (Contact/Room/Tag
pools, seen message ids); they are reset around every test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from wechat_support import BOT_ID, BOT_NAME, TOKEN, populate, wechat_settings


@pytest.fixture(autouse=True)
def fresh_wechaty_caches() -> Iterator[None]:
    """Reset wechaty's process-global pools before and after each test."""
    try:
        from bot.adapters.wechat import reset_sdk_caches
    except ImportError:
        yield
        return
    reset_sdk_caches()
    yield
    reset_sdk_caches()


@pytest.fixture
async def fake() -> AsyncIterator[Any]:
    """A running fake puppet service on 127.0.0.1 with the standard cast."""
    from fake_puppet import FakePuppetService

    service = FakePuppetService(self_id=BOT_ID, self_name=BOT_NAME)
    populate(service)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def adapters() -> AsyncIterator[list[Any]]:
    """Adapters a test started; stopped at teardown if the test did not."""
    started: list[Any] = []
    yield started
    for adapter in reversed(started):
        await adapter.stop(drain_timeout=1)


@pytest.fixture
def make_adapter(fake: Any, adapters: list[Any]) -> Callable[..., Any]:
    """Build a ``WechatAdapter`` pointed at the fake service (not yet started)."""
    from bot.adapters.wechat import WechatAdapter

    def factory(journal: Callable[..., Any], **options: Any) -> Any:
        options.setdefault("aliases", [BOT_NAME])
        options.setdefault("login_timeout", 10.0)
        adapter = WechatAdapter(fake.endpoint, TOKEN, journal, **options)
        adapters.append(adapter)
        return adapter

    return factory


@pytest.fixture
async def wechat_app(fake: Any, tmp_path: Path) -> AsyncIterator[Any]:
    """``bot.app.build_app`` with WeChat enabled and started against the fake service."""
    from bot.app import build_app

    app = build_app(wechat_settings(f"sqlite:///{tmp_path / 'minyi.db'}"))
    try:
        started = await app.start_platforms(
            env={
                "WECHATY_PUPPET_SERVICE_ENDPOINT": fake.endpoint,
                "WECHATY_PUPPET_SERVICE_TOKEN": "test",
            }
        )
        assert started == ["wechat"]
        yield app
    finally:
        await app.close_platforms()
        app.close()
