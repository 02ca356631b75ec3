"""Engines and schema: create an engine for a URL and bring its schema up to date with Alembic.

SQLite gets foreign keys, WAL and a busy timeout; an in-memory SQLite URL shares one connection so every
thread sees the same database. The parent folder of a SQLite file is created on demand. SQLite's planner
statistics are gathered at every start (``upgrade``) and refreshed while the bot runs (``OPTIMIZE_SECONDS``).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

# Alembic is imported only when a migration has to run: at most starts the schema is already at its
# newest revision, which ``schema_heads`` tells from the scripts' text (importing Alembic costs ~0.3 s).

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=]*=\s*(.+)$", re.MULTILINE)


class DatabaseLocationError(ValueError):
    """The SQLite file's folder cannot be created or written (a configuration mistake)."""


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url`` with the settings minyi relies on."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            folder = Path(database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseLocationError(
                    f"cannot create the SQLite folder {folder}: {exc.strerror or exc}"
                ) from None
            if not os.access(folder, os.W_OK):
                raise DatabaseLocationError(f"the SQLite folder {folder} is not writable")
    elif parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # psycopg 3 is what minyi installs; plain postgresql:// would ask for psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs["pool_pre_ping"] = True
    engine = create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "checkin", _sqlite_optimize)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT (units of work nest them): let SQLAlchemy
    # say BEGIN itself (``_sqlite_begin``), as SQLAlchemy's documentation recommends.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


OPTIMIZE_SECONDS = 600.0
"""How often a SQLite connection, handed back to the pool, has SQLite refresh the planner's statistics
of the tables its queries used (``PRAGMA optimize``: ANALYZE, sampled, of a table never analysed or
grown many times over since; nothing otherwise). A store created empty has no statistics until then,
and without them the planner may read a busy group's every open ticket to find one on a topic where
the topic's index finds it at once."""

_OPTIMIZED_AT = "minyi.optimized_at"


def _sqlite_optimize(dbapi_connection: Any, record: Any) -> None:
    if dbapi_connection is None:
        return  # invalidated: nothing to refresh through
    now = time.monotonic()
    if now - record.info.setdefault(_OPTIMIZED_AT, now) < OPTIMIZE_SECONDS:
        return
    record.info[_OPTIMIZED_AT] = now
    try:
        dbapi_connection.execute(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        dbapi_connection.execute("PRAGMA optimize")
    except sqlite3.Error as exc:
        # Statistics are an aid: a busy database refreshes them next time.
        log.info("SQLite statistics not refreshed this time: %s", exc)


def alembic_config(engine: Engine) -> Config:
    """An Alembic configuration that migrates ``engine`` with the packaged migration scripts."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


ANALYSIS_LIMIT = 1000
"""Rows SQLite's ANALYZE samples per index: statistics in milliseconds whatever the table's size."""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent). SQLite then gathers the planner's statistics
    (sampled, so it stays quick on a large file): without them it may pick a poor index for a period.
    PostgreSQL's autovacuum keeps its own."""
    if revision != "head" or not _at_heads(engine):
        from alembic import command

        command.upgrade(alembic_config(engine), revision)
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
            connection.exec_driver_sql("ANALYZE")


def current_revision(engine: Engine) -> str | None:
    """The schema revision stored in the database, or None for an empty database."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        return row[0] if row else None


def schema_heads() -> frozenset[str]:
    """The newest revisions of the packaged migration scripts (read from their text, not imported):
    the revisions no other script names as its ``down_revision``."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        for name, value in _REVISION_LINE.findall(script.read_text(encoding="utf-8")):
            # A value is a quoted id, None, or a tuple of quoted ids (a merge).
            ids = re.findall(r"[\'\"]([^\'\"]+)[\'\"]", value)
            (revisions if name == "revision" else parents).update(ids)
    return frozenset(revisions - parents)


def _at_heads(engine: Engine) -> bool:
    """True when the database's stored revisions are exactly the scripts' heads."""
    heads = schema_heads()
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return False
        stored = {
            row[0] for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version")
        }
    return bool(heads) and stored == heads
