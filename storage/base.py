"""The store's plumbing: engine and sessions, the transaction each method runs in, units of work, and
the two errors a store call raises (a refusal and an outage).

Every part of the store (storage/roster.py, tickets.py …) derives from ``StoreBase`` and opens its
session with ``self._tx()``; nothing else here knows what the store keeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from enum import StrEnum
from typing import Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import StaticPool

from storage import topic_rollup
from storage.commit_hooks import run_before_commit

PERSONS_MEMO = "minyi.persons"
GROUPS_MEMO = "minyi.groups"
"""Keys of ``Session.info`` under which a session remembers the persons and groups it found
(``storage.rows``): a batch of events in one transaction looks each sender and group up once."""


class StoreErrorCode(StrEnum):
    """Why the store refused a request. The parameters each code comes with are in brackets."""

    UNKNOWN_ROLE = "unknown_role"
    """A role other than official, supervisor or admin [role]."""
    UNKNOWN_OFFICIAL = "unknown_official"
    """No one of that name on the roster [name]."""
    UNKNOWN_DEPARTMENT = "unknown_department"
    """No department of that name [department]."""
    INVITE_INVALID = "invite_invalid"
    """No such invite code []."""
    INVITE_USED = "invite_used"
    """The invite code was redeemed already []."""
    INVITE_EXPIRED = "invite_expired"
    """The invite code is past its expiry []."""
    INVITE_REVOKED = "invite_revoked"
    """The invite code was typed where others could read it and was revoked []."""
    UNKNOWN_QUESTION = "unknown_question"
    """No question of that number [question_id]."""
    QUESTION_CLOSED = "question_closed"
    """The question is closed and takes no more answers [question_id]."""
    UNKNOWN_SCORE = "unknown_score"
    """A rating other than satisfied, basically_satisfied or unsatisfied [score]."""
    UNKNOWN_STATE = "unknown_state"
    """A question state that does not exist [state]."""
    UNKNOWN_ENGAGEMENT_KIND = "unknown_engagement_kind"
    """An engagement kind that does not exist [kind]."""


class StoreError(Exception):
    """A request the store refuses: ``code`` says why, ``params`` carries the details. The store words
    nothing for people; handlers/store_messages.py does."""

    def __init__(self, code: StoreErrorCode, **params: object) -> None:
        super().__init__(code, params)
        self.code = code
        self.params = params

    def __str__(self) -> str:
        details = ", ".join(f"{key}={value!r}" for key, value in self.params.items())
        return f"{self.code}({details})"


class StoreUnavailable(Exception):
    """The database cannot be reached right now (server down or restarting, connection lost, SQLite
    file locked). The failed call's transaction was rolled back, so it may be made again; only a
    connection lost during COMMIT itself leaves unknown whether the server kept the write."""


class StoreConflict(StoreUnavailable):
    """PostgreSQL rolled the transaction back to end a conflict with another worker's (a deadlock, a
    serialization failure): nothing is down, and the same work done again at once goes through."""


CONFLICT_STATES = frozenset({"40P01", "40001"})
"""SQLSTATEs of a transaction PostgreSQL rolled back for another's sake: deadlock detected,
serialization failure."""

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

    @property
    def concurrent_reads(self) -> bool:
        """True when another connection can read while a unit of work writes: not so for an
        in-memory SQLite store, whose one connection everything shares."""
        return not isinstance(self.engine.pool, StaticPool)

    @contextmanager
    def unit_of_work(self) -> Iterator[Self]:
        """A store whose methods share one transaction, committed at the end of the block and rolled
        back if it raises; an unreachable database raises ``StoreUnavailable``."""
        try:
            with self._sessions.begin() as session:
                # type(self): the bound store has every method of the store it was made from.
                yield type(self)(self.engine, session=session)
                run_before_commit(session, core(session))
        except DBAPIError as exc:
            raise self._unavailable(exc) from exc

    def begin_unit(self) -> Self:
        """Like ``unit_of_work``, for a unit that spans several calls (the dispatcher's): a store bound
        to a new session in a transaction; ``end_unit`` on it commits or rolls back."""
        session = self._sessions()
        session.begin()
        return type(self)(self.engine, session=session)

    def end_unit(self, commit: bool) -> None:
        """Commit (or roll back) the transaction of a store from ``begin_unit``, and close it."""
        session = self._bound
        if session is None:
            raise RuntimeError("end_unit called on a store that is not bound to a unit of work")
        try:
            if commit:
                run_before_commit(session, core(session))
                session.commit()
            else:
                # A rollback on a connection the server dropped fails too; closing discards it.
                with suppress(DBAPIError):
                    session.rollback()
        except DBAPIError as exc:
            raise self._unavailable(exc) from exc
        finally:
            session.close()

    def begin_savepoint(self) -> SessionTransaction:
        """A savepoint in this unit's transaction (one event of a batch): ``end_savepoint`` keeps or
        undoes what was done since, leaving the rest of the unit as it was."""
        session = self._bound
        if session is None:
            raise RuntimeError(
                "begin_savepoint called on a store that is not bound to a unit of work"
            )
        try:
            return session.begin_nested()
        except DBAPIError as exc:
            raise self._unavailable(exc) from exc

    def end_savepoint(self, savepoint: SessionTransaction, keep: bool) -> None:
        """Release (``keep``) or roll back a savepoint from ``begin_savepoint``."""
        try:
            if keep:
                savepoint.commit()
            else:
                savepoint.rollback()
                self._forget_rows()
        except DBAPIError as exc:
            raise self._unavailable(exc) from exc

    def _forget_rows(self) -> None:
        """The bound session forgets the persons and groups it found (``storage.rows``): a rolled
        back savepoint took the rows it made with it."""
        if self._bound is not None:
            self._bound.info.pop(PERSONS_MEMO, None)
            self._bound.info.pop(GROUPS_MEMO, None)
            topic_rollup.forget_asked(self._bound)

    @staticmethod
    def _unavailable(exc: DBAPIError) -> Exception:
        # Before the outage words: a deadlock's message names the processes "blocked" by each other.
        if getattr(exc.orig, "sqlstate", None) in CONFLICT_STATES:
            return StoreConflict(f"transaction rolled back: {type(exc.orig).__name__}")
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
                    try:
                        with self._bound.begin_nested():
                            yield self._bound
                    except BaseException:
                        self._forget_rows()  # rows the savepoint made are gone
                        raise
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


def core(session: Session) -> Connection:
    """The connection of ``session``'s transaction, to run a Core statement built once on: about half
    the cost of ``session.execute`` for a short statement (no ORM execution path). What the session
    changed and has not flushed yet is flushed first, as an ORM statement's autoflush would, so the
    statement sees it (a flush with nothing to do costs nothing)."""
    if session.autoflush:
        session.flush()
    return session.connection()
