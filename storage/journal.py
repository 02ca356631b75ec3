"""The inbox and the outbox: what platforms delivered, and what the bot is to send.

The inbox (``InboxEvent``) is the journal every received event is committed to before the platform is
told it arrived; the dispatcher handles an event from here and marks it done in the same transaction as
its effects. The outbox (``OutboxMessage``) holds what handlers sent, written in that same transaction
and delivered afterwards. Payloads are JSON text the bot encodes and decodes; the store only keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Table,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.elements import BindParameter

from storage.base import StoreBase, core
from storage.driver import DriverStatement
from storage.models import InboxEvent, OutboxMessage
from storage.workers import CHAT_NAMESPACE

# The outbox and inbox statements every question runs, built once: Core statements on the tables
# (never the ORM's bulk UPDATE, whose session synchronisation and per-call statement building cost
# several times the SQL), with the values bound per call. No method holding them keeps ORM rows of
# those tables in its session, so there is nothing to synchronise.
_INBOX = cast(Table, InboxEvent.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)
_OLDER = _OUTBOX.alias("older")
_YOUNGER = _OUTBOX.alias("younger")
_OPEN_STATES: list[Any] = [literal_column("'pending'"), literal_column("'sending'")]
"""A send not settled yet, written into the SQL as the partial index ``ix_outbox_chat_open`` says it
(a driver statement binds no list: ``storage.driver``)."""
_OLDER_EVENT = _INBOX.alias("older")
_WAITING: Any = literal_column("'pending'")
"""An inbox event's ``pending`` state, written into the SQL, never bound: SQLite prepares a statement
again at every execution when a bound value decides whether a partial index (``ix_inbox_chat_pending``,
``WHERE state = 'pending'``) applies — for the claim, several times the cost of running it."""


def _claim(one: bool) -> Any:
    """The claim of the events ``ids`` (an expanding list), or of the event ``id`` when ``one``: a
    statement of its own, run on the driver's cursor (SQLite's claim of a lone question)."""
    ids: BindParameter[Any] = bindparam("id") if one else bindparam("ids", expanding=True)
    return (
        update(_INBOX)
        .where(
            _INBOX.c.id == ids if one else _INBOX.c.id.in_(ids),
            _INBOX.c.state == _WAITING,
            # A chat's order: never an event that an older pending one of its chat, not in this
            # batch, precedes (another worker's, or one journaled behind the dispatcher's back).
            ~exists().where(
                _OLDER_EVENT.c.chat_key == _INBOX.c.chat_key,
                _OLDER_EVENT.c.state == _WAITING,
                _OLDER_EVENT.c.id < _INBOX.c.id,
                _OLDER_EVENT.c.id != ids if one else _OLDER_EVENT.c.id.not_in(ids),
            ),
        )
        .values(state="done", done_at=bindparam("at"))
        .returning(_INBOX.c.id)
    )


_CLAIM = _claim(one=False)
_CLAIM_ONE = DriverStatement(_claim(one=True))

_ENQUEUE = DriverStatement(
    insert(_OUTBOX).returning(_OUTBOX.c.id),
    ("event_id", "platform", "chat_id", "kind", "payload", "follow_up", "state", "created_at"),
)
_NO_OLDER_OPEN_SEND = ~exists().where(
    _OLDER.c.platform == _OUTBOX.c.platform,
    _OLDER.c.chat_id == _OUTBOX.c.chat_id,
    _OLDER.c.state.in_(_OPEN_STATES),
    _OLDER.c.id < _OUTBOX.c.id,
)
"""A send's chat has nothing older waiting or being sent: each chat's order, whichever worker sends.
Judged on the rows as they were before the statement, so of two sends of one chat claimed together
the younger waits for the older, as when they are claimed one at a time."""
_MARK_SENDING_ALL = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id.in_(bindparam("ids", expanding=True)),
        _OUTBOX.c.state == "pending",
        _NO_OLDER_OPEN_SEND,
    )
    .values(state="sending", claimed_by=bindparam("worker"))
    .returning(_OUTBOX.c.id)
)
"""Claim a delivery round's sends: one statement (an expanding ``IN``, so Core's path, not the
driver's), where one each cost a round trip each on PostgreSQL."""
_SETTLE = DriverStatement(
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id == bindparam("outbox_id"),
        _OUTBOX.c.state == "sending",
        _OUTBOX.c.claimed_by.is_not_distinct_from(bindparam("owner")),
    )
    .values(
        state=bindparam("outcome"),
        sent_at=bindparam("at"),
        platform_message_id=bindparam("message_id"),
        error=bindparam("reason"),
    )
    .returning(_OUTBOX.c.id)
)
_OUTBOX_DUE = DriverStatement(
    select(
        _OUTBOX.c.id, _OUTBOX.c.event_id, _OUTBOX.c.platform, _OUTBOX.c.chat_id, _OUTBOX.c.kind,
        _OUTBOX.c.payload, _OUTBOX.c.follow_up, _OUTBOX.c.state, _OUTBOX.c.platform_message_id,
        _OUTBOX.c.claimed_by,
        exists()
        .where(
            _YOUNGER.c.platform == _OUTBOX.c.platform,
            _YOUNGER.c.chat_id == _OUTBOX.c.chat_id,
            _YOUNGER.c.state == "pending",
            _YOUNGER.c.id > _OUTBOX.c.id,
        )
        .label("queued_after"),
    )
    .where(
        _OUTBOX.c.state.in_(_OPEN_STATES),
        # Each chat's next send only: a chat with hundreds queued (an official's alerts in a
        # storm) neither fills the page nor holds up the other chats' first sends.
        ~exists().where(
            _OLDER.c.platform == _OUTBOX.c.platform,
            _OLDER.c.chat_id == _OUTBOX.c.chat_id,
            _OLDER.c.state.in_(_OPEN_STATES),
            _OLDER.c.id < _OUTBOX.c.id,
        ),
    )
    .order_by(_OUTBOX.c.id)
    .limit(bindparam("limit"))
)  # fmt: skip
_PENDING = DriverStatement(
    select(
        _INBOX.c.id, _INBOX.c.platform, _INBOX.c.event_key, _INBOX.c.chat_key, _INBOX.c.payload,
        _INBOX.c.attempts,
    )
    .where(_INBOX.c.state == _WAITING, _INBOX.c.id > bindparam("after"))
    .order_by(_INBOX.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)  # fmt: skip


@cache
def _journal_statement(dialect: str) -> DriverStatement:
    """INSERT of one received event that does nothing for a redelivery (its platform and key are
    journaled already), built once per dialect."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return DriverStatement(
        insert(_INBOX)
        .on_conflict_do_nothing(index_elements=["platform", "event_key"])
        .returning(_INBOX.c.id),
        _JOURNALED,
    )


_JOURNALED = (
    "platform", "event_key", "chat_key", "payload", "raw", "state", "attempts", "error",
    "received_at",
)  # fmt: skip
"""The columns ``journal`` gives."""


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """One received event to journal (``payload`` None: unreadable, kept as poison)."""

    platform: str
    key: str
    chat_key: str
    payload: str | None
    raw: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class InboxRecord:
    """A journaled event waiting to be handled."""

    id: int
    platform: str
    key: str
    chat_key: str
    payload: str
    attempts: int


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One send to queue."""

    platform: str
    chat_id: str
    kind: str
    payload: str
    follow_up: str = ""
    event_id: int | None = None

    def queued_as(self, outbox_id: int) -> OutboxRecord:
        """The row ``enqueue`` wrote for this send (id ``outbox_id``), as ``outbox_due`` reads it."""
        return OutboxRecord(
            outbox_id, self.event_id, self.platform, self.chat_id, self.kind, self.payload,
            self.follow_up, "pending",
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """A queued send, as the outbox sender sees it."""

    id: int
    event_id: int | None
    platform: str
    chat_id: str
    kind: str
    payload: str
    follow_up: str
    state: str
    platform_message_id: str | None = None
    claimed_by: int | None = None
    """The worker that marked it ``sending`` (None: not claimed, or by a process without a lease)."""
    queued_after: bool = False
    """Another send of its chat waits behind it (``outbox_due`` reads each chat's next send only)."""


@dataclass(frozen=True, slots=True)
class JournalHealth:
    """What ``minyi doctor`` reports: counts by state, and the poison events."""

    inbox: dict[str, int]
    outbox: dict[str, int]
    poison: list[tuple[int, str, str, str]]
    """(id, platform, key, error) of each poison event, newest last."""
    uncertain: list[tuple[int, str, str]]
    """(id, platform, chat id) of each send whose fate is unknown."""


def _outbox_record(row: OutboxMessage) -> OutboxRecord:
    return OutboxRecord(
        row.id, row.event_id, row.platform, row.chat_id, row.kind, row.payload, row.follow_up,
        row.state, row.platform_message_id, row.claimed_by,
    )  # fmt: skip


class JournalStore(StoreBase):
    """Inbox and outbox operations."""

    # ------------------------------------------------------------------ inbox

    def journal(self, entries: Sequence[InboxEntry], at: datetime) -> int:
        """Commit received events to the inbox; a redelivery (same platform and key) is ignored.
        Returns how many were new."""
        return self.journal_records(entries, at)[0]

    def journal_records(
        self, entries: Sequence[InboxEntry], at: datetime
    ) -> tuple[int, list[InboxRecord]]:
        """``journal``: how many were new, and the new events to handle as the inbox holds them (as
        ``pending_events`` would read them; an unreadable one, kept as poison, is not among them)."""
        if not entries:
            return 0, []
        with self._tx() as session:
            connection = core(session)
            statement = _journal_statement(connection.dialect.name)
            rows = [
                {
                    "platform": e.platform,
                    "event_key": e.key[:200],
                    "chat_key": e.chat_key[:200],
                    "payload": e.payload,
                    "raw": e.raw,
                    "state": "pending" if e.payload is not None else "poison",
                    "attempts": 0,
                    "error": e.error,
                    "received_at": at,
                }
                for e in entries
            ]
            new = 0
            records = []
            for entry, row in zip(entries, rows, strict=True):  # one by one: ids in received order
                made = statement.rows(connection, row)
                new += len(made)
                if made and entry.payload is not None:
                    records.append(
                        InboxRecord(
                            made[0][0], entry.platform, entry.key[:200], entry.chat_key[:200],
                            entry.payload, 0,
                        )
                    )  # fmt: skip
            return new, records

    def pending_events(self, limit: int = 100, after: int = 0) -> list[InboxRecord]:
        """Events still to handle, oldest first. On PostgreSQL the events another worker is claiming
        right now are skipped (``SKIP LOCKED``): this worker looks past them for other chats'."""
        with self._tx() as session:
            rows = _PENDING.rows(core(session), {"after": after, "limit": limit})
            return [InboxRecord(i, p, k, c, payload or "", a) for i, p, k, c, payload, a in rows]

    def pending_event_for(self, platform: str, key: str) -> InboxRecord | None:
        """The event journaled under ``key``, if it still waits to be handled."""
        with self._tx() as session:
            row = session.scalar(
                select(InboxEvent).where(
                    InboxEvent.platform == platform,
                    InboxEvent.event_key == key[:200],
                    InboxEvent.state == _WAITING,
                )
            )
            if row is None:
                return None
            return InboxRecord(
                row.id, row.platform, row.event_key, row.chat_key, row.payload or "", row.attempts
            )

    def finish_event(self, event_id: int, at: datetime) -> bool:
        """Mark the event handled; False when it was not pending any more (handled elsewhere)."""
        with self._tx() as session:
            result = session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == event_id, InboxEvent.state == _WAITING)
                .values(state="done", done_at=at)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def claim_events(self, event_ids: Sequence[int], at: datetime) -> set[int]:
        """Mark a batch of events handled (in the unit that handles them); the ids claimed — the
        others were handled elsewhere, belong to a chat another worker is handling, or wait behind an
        older pending event of their chat that is not among ``event_ids``, and are skipped.

        On PostgreSQL several workers share the inbox: the unit first takes a transaction advisory
        lock on each of the batch's chats it can (``try``: a chat another worker holds is left to
        it), and claims only events of those chats. The locks go with the unit's commit or rollback
        (or the worker's death)."""
        if not event_ids:
            return set()
        with self._tx() as session:
            ids = list(event_ids)
            claim = _CLAIM
            if session.get_bind().dialect.name == "postgresql":
                # One statement: the batch's chats, each kept if its lock could be taken (a volatile
                # condition is never pushed into the subquery, so each chat is tried once).
                locked = session.scalars(
                    text(
                        "SELECT chat FROM (SELECT DISTINCT chat_key AS chat FROM inbox "
                        "WHERE id = ANY(CAST(:ids AS integer[]))) AS chats "
                        f"WHERE pg_try_advisory_xact_lock(({CHAT_NAMESPACE})::int, hashtext(chat))"
                    ).bindparams(bindparam("ids", value=ids))
                ).all()
                if not locked:
                    return set()
                # A new statement, so a fresh view: whatever the chat's previous holder committed
                # (handled or released) is seen now that this unit holds the chat.
                claim = claim.where(_INBOX.c.chat_key.in_(locked))
            elif len(ids) == 1:
                claimed = _CLAIM_ONE.rows(core(session), {"id": ids[0], "at": at})
                return {row[0] for row in claimed}
            return set(core(session).scalars(claim, {"ids": ids, "at": at}).all())

    def release_events(self, event_ids: Sequence[int]) -> None:
        """Put claimed events back to pending (a batch ended before handling them)."""
        if not event_ids:
            return
        with self._tx() as session:
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.id.in_(event_ids))
                .values(state="pending", done_at=None)
            )

    def note_failure(self, event_id: int, error: str, max_attempts: int, at: datetime) -> bool:
        """Count a failed attempt at handling the event; True when it has now become poison."""
        with self._tx() as session:
            row = session.get(InboxEvent, event_id)
            if row is None or row.state != "pending":
                return False
            row.attempts += 1
            row.error = error[:2000]
            if row.attempts >= max_attempts:
                row.state = "poison"
                row.done_at = at
                return True
            return False

    # ------------------------------------------------------------------ outbox

    def enqueue(self, entries: Sequence[OutboxEntry], at: datetime) -> list[int]:
        """Queue sends; their ids, in order."""
        if not entries:
            return []
        with self._tx() as session:
            rows = [
                {
                    "event_id": e.event_id, "platform": e.platform, "chat_id": e.chat_id,
                    "kind": e.kind, "payload": e.payload, "follow_up": e.follow_up,
                    "state": "pending", "created_at": at,
                }
                for e in entries
            ]  # fmt: skip
            # One by one, as the journal does: the ids in order without SQLAlchemy's machinery for
            # a many-row INSERT … RETURNING (which cost more than the two or three rows' SQL).
            connection = core(session)
            return [_ENQUEUE.scalar(connection, row) for row in rows]

    def outbox_due(self, limit: int = 200) -> list[OutboxRecord]:
        """The next send of each chat: the oldest of the chat's sends waiting to go out
        (``pending``) or interrupted (``sending``), and whether more of the chat's wait behind it;
        oldest first."""
        with self._tx() as session:
            due = _OUTBOX_DUE.rows(core(session), {"limit": limit})
            return [
                OutboxRecord(
                    i, event, platform, chat, kind, payload, follow_up, state, sent, by, bool(more)
                )
                for i, event, platform, chat, kind, payload, follow_up, state, sent, by, more in due
            ]

    def mark_sending(self, outbox_id: int, worker: int | None = None) -> bool:
        """Claim a pending send for ``worker`` just before the platform call; False if somebody else
        did, or an older send of its chat is still pending or being sent (each chat's order holds
        whichever worker sends)."""
        return outbox_id in self.mark_sending_all([outbox_id], worker)

    def own_sending(self, outbox_ids: Sequence[int], worker: int | None = None) -> set[int]:
        """Those of the sends that are ``sending``, claimed by ``worker``."""
        if not outbox_ids:
            return set()
        with self._tx() as session:
            found = session.scalars(
                select(OutboxMessage.id).where(
                    OutboxMessage.id.in_(list(outbox_ids)),
                    OutboxMessage.state == "sending",
                    OutboxMessage.claimed_by.is_not_distinct_from(worker),
                )
            )
            return set(found.all())

    def mark_sending_all(self, outbox_ids: Sequence[int], worker: int | None = None) -> set[int]:
        """``mark_sending`` of each send, in one statement and one transaction (the first sends of
        several chats, about to go out side by side, claimed with one commit); the ids claimed."""
        if not outbox_ids:
            return set()
        with self._tx() as session:
            claimed = core(session).scalars(
                _MARK_SENDING_ALL, {"ids": list(outbox_ids), "worker": worker}
            )
            return set(claimed.all())

    def settle(
        self,
        outbox_id: int,
        state: str,
        at: datetime,
        *,
        claimed_by: int | None = None,
        platform_message_id: str | None = None,
        error: str = "",
    ) -> bool:
        """Record how a send ``claimed_by`` a worker ended: ``sent``, ``uncertain`` or ``failed``
        (``claimed_by`` stays: who tried to send it). False (nothing changed) when it is no longer
        that worker's ``sending`` send: another worker settled it first (it took that one for dead)."""
        with self._tx() as session:
            settled = _SETTLE.rows(
                core(session),
                {
                    "outbox_id": outbox_id,
                    "owner": claimed_by,
                    "outcome": state,
                    "at": at,
                    "message_id": platform_message_id,
                    "reason": error[:2000],
                },
            )
            return bool(settled)

    def sends_of(self, event_id: int | None, follow_up_prefix: str) -> list[OutboxRecord]:
        """The sends one event queued whose follow-up starts with ``follow_up_prefix`` (a batch);
        ``None``: sends of no event (a timer's), told apart by the prefix alone."""
        with self._tx() as session:
            rows = session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.event_id.is_(None)
                    if event_id is None
                    else OutboxMessage.event_id == event_id,
                    OutboxMessage.follow_up.startswith(follow_up_prefix),
                )
                .order_by(OutboxMessage.id)
            ).all()
            return [_outbox_record(r) for r in rows]

    def journal_health(self, limit: int = 50) -> JournalHealth:
        """Counts of inbox and outbox rows by state, the latest poison events and uncertain sends."""
        with self._tx() as session:

            def counts(column: Any) -> dict[str, int]:
                rows = session.execute(select(column, func.count()).group_by(column)).all()
                return {state: n for state, n in rows}

            poison = session.execute(
                select(InboxEvent.id, InboxEvent.platform, InboxEvent.event_key, InboxEvent.error)
                .where(InboxEvent.state == "poison")
                .order_by(InboxEvent.id.desc())
                .limit(limit)
            ).all()
            uncertain = session.execute(
                select(OutboxMessage.id, OutboxMessage.platform, OutboxMessage.chat_id)
                .where(OutboxMessage.state == "uncertain")
                .order_by(OutboxMessage.id.desc())
                .limit(limit)
            ).all()
            return JournalHealth(
                inbox=counts(InboxEvent.state),
                outbox=counts(OutboxMessage.state),
                poison=[(i, p, k, e) for i, p, k, e in reversed(poison)],
                uncertain=[(i, p, c) for i, p, c in reversed(uncertain)],
            )
