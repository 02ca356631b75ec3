"""The store's plumbing: engine and sessions, the transaction each method runs in, units of work, and
the two errors a store call raises (a refusal and an outage).

Every part of the store (storage/roster.py, tickets.py …) derives from ``StoreBase`` and opens its
session with ``self._tx()``; nothing else here knows what the store keeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker


class StoreError(Exception):
    """A request the store refuses; the message is fit to show people (Chinese)."""


class StoreUnavailable(Exception):
    """The database cannot be reached right now (server down or restarting, connection lost, SQLite
    file locked). The failed call's transaction was rolled back, so it may be made again; only a
    connection lost during COMMIT itself leaves unknown whether the server kept the write."""


_OUTAGE_WORDS = (
    "connection",
    "server closed",
    "terminating",
    "locked",
    "unable to open",
    "disk i/o",
)
"""How drivers word an outage (psycopg: "connection failed", "server closed the connection
unexpectedly", "terminating connection due to administrator command"; SQLite: "database is locked")."""


def is_outage(error: DBAPIError) -> bool:
    """True for a database error that says the database is unreachable, not that a query is wrong."""
    if error.connection_invalidated:
        return True
    if not isinstance(error, OperationalError | InterfaceError):
        return False
    message = str(error.orig).lower()
    return any(word in message for word in _OUTAGE_WORDS)


class StoreBase:
    """Sessions and transactions for every part of the store.

    A plain store runs each method in a transaction of its own. ``unit_of_work()`` yields a store
    bound to one session: every method called on it joins that one transaction, which commits when the
    block ends — how the dispatcher makes everything one event changes land together, or not at all.
    """

    def __init__(self, engine: Engine, *, session: Session | None = None) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._bound = session

    @contextmanager
    def unit_of_work(self) -> Iterator[Self]:
        """A store whose methods share one transaction, committed at the end of the block and rolled
        back if it raises; an unreachable database raises ``StoreUnavailable``."""
        try:
            with self._sessions.begin() as session:
                # type(self): the bound store has every method of the store it was made from.
                yield type(self)(self.engine, session=session)
        except DBAPIError as exc:
            raise self._unavailable(exc) from exc

    @staticmethod
    def _unavailable(exc: DBAPIError) -> Exception:
        if is_outage(exc):
            return StoreUnavailable(f"database unavailable: {type(exc.orig).__name__}")
        return exc

    @contextmanager
    def _tx(self, *, guarded: bool = False) -> Iterator[Session]:
        """The session a method works in. Bound to a unit of work, ``guarded`` methods (those that
        catch an ``IntegrityError``) run in a savepoint so a refused insert leaves the rest intact."""
        try:
            if self._bound is not None:
                if guarded:
                    with self._bound.begin_nested():
                        yield self._bound
                else:
                    yield self._bound
                return
            with self._sessions.begin() as session:
                yield session
        except DBAPIError as exc:
            error = self._unavailable(exc)
            if error is exc:
                raise
            raise error from exc
