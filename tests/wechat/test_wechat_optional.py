"""wechaty is an optional extra: without it the adapter raises ImportError and the app says what to do.

These run in a subprocess with the wechaty packages blocked, so they run whether or not the extra is
installed. One more checks where the SDK's files go at import time (needs the extra).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

BLOCK = textwrap.dedent(
    """
    import sys
    for name in ("wechaty", "wechaty_puppet", "wechaty_puppet_service", "wechaty_grpc"):
        sys.modules[name] = None  # makes "import name" raise ImportError
    """
)


def run(
    code: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_import_without_wechaty_is_an_import_error(tmp_path: Path) -> None:
    code = BLOCK + textwrap.dedent(
        """
        import bot.app  # must not need wechaty
        try:
            import bot.adapters.wechat
        except ImportError as exc:
            print("ImportError", exc.name)
        else:
            print("imported")
        """
    )
    result = run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    kind, name = result.stdout.split()
    assert kind == "ImportError" and name.startswith("wechaty")


def test_app_explains_how_to_install_the_extra(tmp_path: Path) -> None:
    code = BLOCK + textwrap.dedent(
        f"""
        import asyncio
        from bot.app import PlatformUnavailable, build_app
        from bot.config import Settings
        settings = Settings.model_validate(
            {{"database": {{"url": "sqlite:///{tmp_path / "x.db"}"}}, "wechat": {{"enabled": True}}}}
        )
        app = build_app(settings)
        try:
            asyncio.run(app.start_platforms(env={{
                "WECHATY_PUPPET_SERVICE_ENDPOINT": "127.0.0.1:1",
                "WECHATY_PUPPET_SERVICE_TOKEN": "t",
            }}))
        except PlatformUnavailable as exc:
            print(exc)
        finally:
            app.close()
        """
    )
    result = run(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pip install 'minyi[wechat]'" in result.stdout


@pytest.mark.skipif(
    importlib.util.find_spec("wechaty") is None, reason="wechaty is not installed (minyi[wechat])"
)
def test_sdk_files_go_to_the_cache_dir_not_the_working_directory(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    work = tmp_path / "work"
    work.mkdir()
    code = "import bot.adapters.wechat, os; print(os.environ['CACHE_DIR'])"
    result = run(code, work, env={"CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(cache)  # an explicit CACHE_DIR wins
    assert cache.is_dir()
    assert not (work / ".wechaty").exists()

    home = tmp_path / "home"
    env = {"XDG_CACHE_HOME": str(home)}
    result = run("import os; os.environ.pop('CACHE_DIR', None)\n" + code, work, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(home / "minyi" / "wechaty")
    assert not (work / ".wechaty").exists()
