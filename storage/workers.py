"""Workers: which ``minyi run`` processes share the database, and which of them are alive.

Several workers may run on one PostgreSQL. Each registers a ``workers`` row at its start and, on a
connection of its own kept for its lifetime, holds a session advisory lock on that row's id. The
lock is PostgreSQL's own liveness signal: it goes when the process dies (its connection closes), so
"alive" is "holds its lock" (``pg_locks``) — no heartbeat row, no clock to trust. The lock also goes
when only the connection is lost (a server restart, an idle-session timeout, a network drop) while
the process lives on: the postman checks the connection every poll and takes the lock again
(``WorkerLease.renew``). A send left ``sending`` by a worker that is no longer alive is the only
kind another worker takes as ``uncertain`` (``bot.outbox``).

SQLite has one writer and no advisory locks: one worker per database file. ``WorkerLease.take``
refuses a second one (an exclusive ``flock`` on a file beside the database), so two processes never
take each other's sends for a crash's.

The lock keys are namespaced by the schema (several deployments, or the tests' schemas, may share a
PostgreSQL database without seeing each other's workers).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, insert, text
from sqlalchemy.engine import Engine

from storage.models import Worker

WORKER_NAMESPACE = "hashtext('minyi.workers:' || current_schema()) & 2147483647"
"""SQL for the first key of a worker's advisory lock (the second is its id)."""
CHAT_NAMESPACE = "hashtext('minyi.chats:' || current_schema()) & 2147483647"
"""SQL for the first key of the transaction advisory lock a worker takes on a chat it handles."""


class WorkerRefused(RuntimeError):
    """Another worker already runs on this SQLite database."""


class WorkerLease:
    """This process's registration as a worker: its id, and (PostgreSQL) the lock that says it lives.

    Every method runs on the caller's thread with the lease's own connection; the dispatcher calls
    them on its database thread."""

    def __init__(self, engine: Engine, worker_id: int, connection: Connection | None) -> None:
        self.engine = engine
        self.id = worker_id
        self._connection = connection
        self._locked = connection is not None
        """Whether ``_connection``'s session holds this worker's lock."""
        self._file: IO[bytes] | None = None

    @classmethod
    def take(cls, engine: Engine, at: datetime) -> WorkerLease:
        """Register this process and hold its liveness lock (PostgreSQL) or the database's single
        worker lock (SQLite: ``WorkerRefused`` when another process holds it)."""
        lock_file = None
        if engine.dialect.name == "sqlite":
            lock_file = _sqlite_single_worker(engine)
        row = {"host": socket.gethostname()[:200], "pid": os.getpid(), "started_at": at}
        with engine.begin() as registering:
            worker_id = int(
                registering.execute(insert(Worker).returning(Worker.id), row).scalar_one()
            )
        held = None
        if engine.dialect.name == "postgresql":
            held = engine.connect()
            _lock(held, worker_id)
        lease = cls(engine, worker_id, held)
        lease._file = lock_file
        return lease

    def live(self) -> set[int]:
        """The ids of the workers alive now (always including this one); on SQLite only this one."""
        if self._connection is None:
            return {self.id}
        self.renew()
        rows = self._connection.execute(
            text(
                "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objsubid = 2 AND database = (SELECT oid FROM pg_database "
                f"WHERE datname = current_database()) AND classid::bigint = ({WORKER_NAMESPACE})"
            )
        ).scalars()
        self._connection.commit()  # end the read's transaction: an idle lease holds no snapshot
        return {int(r) for r in rows} | {self.id}

    def renew(self) -> None:
        """Take the lock again on a new connection when the old one was lost (a server restart, an
        idle-session timeout, a network drop): until then other workers would think this one dead
        and take its sends in flight as uncertain. Never waits for the lock: should the old
        connection's session still hold it (the server has not noticed the drop yet), this worker
        still counts as alive, and the lock is tried again at the next renewal."""
        if self._connection is None:
            return
        try:
            if self._locked:
                self._connection.execute(text("SELECT 1"))
                self._connection.commit()
            else:
                self._locked = _try_lock(self._connection, self.id)
            return
        except Exception:
            with contextlib.suppress(Exception):
                self._connection.invalidate()
                self._connection.close()
        self._locked = False
        self._connection = self.engine.connect()
        self._locked = _try_lock(self._connection, self.id)

    def release(self) -> None:
        """Give the lease up (a clean stop): the lock goes with the connection."""
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
        if self._file is not None:
            self._file.close()
            self._file = None


def _lock(connection: Connection, worker_id: int) -> None:
    connection.execute(
        text(f"SELECT pg_advisory_lock(({WORKER_NAMESPACE})::int, :id)"), {"id": worker_id}
    )
    connection.commit()  # the session lock stays; no transaction is left open


def _try_lock(connection: Connection, worker_id: int) -> bool:
    locked = connection.execute(
        text(f"SELECT pg_try_advisory_lock(({WORKER_NAMESPACE})::int, :id)"), {"id": worker_id}
    ).scalar_one()
    connection.commit()
    return bool(locked)


def _sqlite_single_worker(engine: Engine) -> IO[bytes] | None:
    """Hold an exclusive lock on ``<database>.worker`` for the process's life; refuse when another
    process holds it. An in-memory database has no second process to refuse."""
    import fcntl

    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database).with_name(Path(database).name + ".worker")
    handle = open(path, "wb")  # noqa: SIM115 - held open for the process's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise WorkerRefused(
            f"another minyi run already works on {database}: SQLite takes one worker; "
            "run several workers on PostgreSQL (docs/ARCHITECTURE.md, 'Several workers')"
        ) from None
    return handle


@contextlib.contextmanager
def start_up_alone(engine: Engine) -> Iterator[None]:
    """Hold PostgreSQL's start-up lock while the block runs (migrating, syncing the roster and the
    templates): workers started together do that one after another, not into each other's inserts.
    Nothing to hold on SQLite (one worker)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        key = "hashtext('minyi.start-up:' || current_schema())"
        connection.execute(text(f"SELECT pg_advisory_lock({key})"))
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text(f"SELECT pg_advisory_unlock({key})"))
            connection.commit()
