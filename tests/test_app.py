"""Starting platforms: a missing token or a missing optional extra is one clear sentence."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from bot.app import PlatformUnavailable

pytestmark = pytest.mark.asyncio


async def test_telegram_without_token_says_which_variable(app_factory, tmp_path):
    app = app_factory(f"sqlite:///{tmp_path / 'a.db'}", telegram={"enabled": True})
    with pytest.raises(PlatformUnavailable, match="TELEGRAM_BOT_TOKEN"):
        await app.start_platforms(env={})


async def test_wechat_without_the_extra_says_how_to_install(app_factory, tmp_path, monkeypatch):
    # A None entry in sys.modules makes `import wechaty` fail as if the extra were not installed.
    monkeypatch.setitem(sys.modules, "wechaty", None)
    monkeypatch.delitem(sys.modules, "bot.adapters.wechat", raising=False)
    app = app_factory(f"sqlite:///{tmp_path / 'a.db'}", wechat={"enabled": True})
    env = {"WECHATY_PUPPET_SERVICE_ENDPOINT": "127.0.0.1:1", "WECHATY_PUPPET_SERVICE_TOKEN": "t"}
    with pytest.raises(PlatformUnavailable, match=r"pip install 'minyi\[wechat\]'"):
        await app.start_platforms(env=env)


@pytest.mark.skipif(
    importlib.util.find_spec("wechaty") is None,
    reason="wechaty is not installed (minyi[wechat]): the missing extra is reported first",
)
async def test_tokens_never_appear_in_the_error(app_factory, tmp_path):
    app = app_factory(f"sqlite:///{tmp_path / 'a.db'}", wechat={"enabled": True})
    with pytest.raises(PlatformUnavailable) as info:
        await app.start_platforms(env={"WECHATY_PUPPET_SERVICE_TOKEN": "sekrit-token"})
    assert "sekrit-token" not in str(info.value)
    assert "WECHATY_PUPPET_SERVICE_ENDPOINT" in str(info.value)
