"""Shared test fixtures: a guard that keeps tests on 127.0.0.1, both database engines, and dialogues.

Store tests run on SQLite and on PostgreSQL (127.0.0.1:5432, user postgres, database test). Without a
reachable server the PostgreSQL cases skip with the reason — except in CI (CI=true), where they fail.
Each PostgreSQL test gets a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dialogue_support import DEPARTMENTS, ROSTER, Dialogue, FakeClock
from tests_support import REPO, SHARED_DATA  # noqa: F401 - re-exported for fixtures

# The seed intent model is cached between runs (bot.text.intent.cache_dir); tests, and the minyi
# processes they start, keep theirs in a folder of their own rather than the user's cache.
os.environ.setdefault("MINYI_CACHE_DIR", tempfile.mkdtemp(prefix="minyi-test-cache-"))

PG_BASE = os.environ.get("MINYI_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# ---------------------------------------------------------------- no traffic beyond loopback

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = address[0] if isinstance(address, tuple) else address
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        if host == "localhost":
            return
        raise ConnectionRefusedError(f"tests may not resolve or reach {host!r}") from None
    if not ip.is_loopback:
        raise ConnectionRefusedError(f"tests may only reach 127.0.0.1, not {host}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(self, address)
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self, address)
    return _real_connect_ex(self, address)


_real_getaddrinfo = socket.getaddrinfo


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    # A DNS query would itself leave the machine, so names are checked before resolving.
    if host not in (None, "", "localhost", b"localhost"):
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            loopback = ipaddress.ip_address(name.split("%")[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise socket.gaierror(f"tests may not resolve {name!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _guarded_getaddrinfo
socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


# ---------------------------------------------------------------- database engines


def _postgres_reason() -> str | None:
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(PG_BASE, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.exec_driver_sql("select 1")
        engine.dispose()
    except Exception as exc:  # any failure means: no usable server here
        return f"PostgreSQL not reachable at {PG_BASE}: {type(exc).__name__}"
    return None


_PG_REASON: str | bool | None = False


def postgres_unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here, or None."""
    global _PG_REASON
    if _PG_REASON is False:
        _PG_REASON = _postgres_reason()
    return _PG_REASON  # type: ignore[return-value]


# Spread over the cores by pytest-xdist (``--dist loadgroup``), two kinds of test are kept in a line of
# their own: the crash tests each run a real ``minyi run`` at full speed and judge how much it drained
# in a time, and the cross-validation accuracy tests each keep a core busy for minutes. Two of a kind
# side by side would starve each other on a two-core machine.
_SERIAL_GROUPS = {"crash": "crash", "data": "accuracy"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put each crash test and each accuracy test in its xdist group (see ``_SERIAL_GROUPS``)."""
    for item in items:
        for marker, group in _SERIAL_GROUPS.items():
            if item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.xdist_group(group))
                break


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'minyi.db'}"
        return
    reason = postgres_unavailable()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {reason}")
        pytest.skip(reason)
    import sqlalchemy

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_BASE)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        # No wait for the disk at each commit: the tests never crash the server, only the bot (whose
        # commits the server holds whatever its fsync does), and PostgreSQL tests commit a lot.
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


# ---------------------------------------------------------------- clock, settings, apps


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved clock starting on a Monday morning in Shanghai."""
    return FakeClock()


def make_settings(database_url: str, **overrides: Any) -> Any:
    """Settings with the test roster and departments on ``database_url``."""
    from bot.config import Settings

    data: dict[str, Any] = {
        "database": {"url": database_url},
        "departments": DEPARTMENTS,
        "officials": ROSTER,
    }
    data.update(overrides)
    return Settings.model_validate(data)


@pytest.fixture
def app_factory(clock: FakeClock) -> Iterator[Callable[..., Any]]:
    """Build apps on a database URL; all are closed after the test."""
    from bot.app import build_app

    built: list[Any] = []

    def factory(database_url: str, **overrides: Any) -> Any:
        app = build_app(make_settings(database_url, **overrides), clock=clock)
        built.append(app)
        return app

    yield factory
    for app in built:
        app.close()


@pytest.fixture
def app(app_factory: Callable[..., Any], tmp_path: Path) -> Any:
    """An app on a fresh SQLite file."""
    return app_factory(f"sqlite:///{tmp_path / 'app.db'}")


@pytest.fixture
def chat(app_factory: Callable[..., Any], db_url: str, clock: FakeClock) -> Dialogue:
    """A dialogue on a fresh app, once on SQLite and once on PostgreSQL."""
    return Dialogue(app_factory(db_url), clock)


@pytest.fixture
def dialogue(
    app_factory: Callable[..., Any], db_url: str, clock: FakeClock
) -> Callable[..., Dialogue]:
    """Make a dialogue on a fresh app with settings of its own (``officials=[…]`` for another roster,
    ``security={…}``), once on SQLite and once on PostgreSQL."""

    def make(**overrides: Any) -> Dialogue:
        return Dialogue(app_factory(db_url, **overrides), clock)

    return make


@pytest.fixture
def data_dir() -> Path:
    """../shared/data, or a skip when this checkout has none beside it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"public data not found at {SHARED_DATA}")
    return SHARED_DATA
