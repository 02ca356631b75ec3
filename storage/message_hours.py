"""The hourly rollup of group messages (``message_hours``) and the summary's message figures read from it.

A supervisor's summary counts a period's messages per group, with the residents' confident suggestions
and complaints among them. Over millions of stored messages that GROUP BY reads every message of the
period; the rollup keeps the same three counts per (UTC hour, group), so a period's whole hours are read
from one row per group and hour, and only its ragged ends — less than an hour on each side — from the
messages themselves.

The rollup is kept by the database, in the transaction that inserts the messages, whichever code
inserts them: a trigger on ``messages`` (migration 0010; on PostgreSQL once per INSERT statement, over
the rows it inserted, on SQLite once per row) adds each new group message to its hour's row. Messages
are never deleted and the columns counted (group, time, intent, confidence, sender) never change after
the insert, so an hour's row only ever grows with its messages. The counting rule lives twice — in the
trigger's SQL and in ``_from_messages`` below — and tests/test_message_hours.py holds them together.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select, union_all
from sqlalchemy.orm import Session

from storage.models import Message, MessageHour
from storage.rows import count_where

if TYPE_CHECKING:
    from storage.reports import ReportScope

HOUR = timedelta(hours=1)
COUNTED_INTENTS = ("suggestion", "complaint")
"""Intents counted as what residents raised (when confident and not an official's own words)."""


def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour ``at`` falls in."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def next_hour(at: datetime) -> datetime:
    """The start of the first UTC hour that begins at or after ``at``."""
    start = hour_of(at)
    return start if start == at else start + HOUR


def _from_messages(start: datetime, end: datetime, scope: ReportScope) -> Any:
    """The three counts per group straight from the messages sent in [start, end)."""
    counted = and_(Message.intent_confident.is_(True), Message.from_official.is_(False))
    return (
        select(
            Message.group_id.label("group_id"),
            func.count().label("messages"),
            *(
                count_where(and_(counted, Message.intent == intent)).label(f"{intent}s")
                for intent in COUNTED_INTENTS
            ),
        )
        .where(Message.sent_at >= start, Message.sent_at < end, Message.group_id.is_not(None))
        .where(scope.messages())
        .group_by(Message.group_id)
    )


def message_tallies(
    session: Session, since: datetime, until: datetime, scope: ReportScope, rollup: bool = True
) -> list[tuple[int, int, int, int]]:
    """(group id, messages, suggestions, complaints) for the messages sent in [since, until) that
    ``scope`` admits: one statement, reading the period's whole hours from ``message_hours`` and the
    rest from the messages. ``rollup=False`` reads every message (what the rollup must agree with)."""
    first = next_hour(since)
    last = hour_of(until)
    if not rollup or first >= last:
        found = session.connection().execute(_from_messages(since, until, scope))
        return [(g, int(n), int(s), int(c)) for g, n, s, c in found]
    hours = (
        select(
            MessageHour.group_id,
            func.sum(MessageHour.messages).label("messages"),
            *(func.sum(getattr(MessageHour, f"{i}s")).label(f"{i}s") for i in COUNTED_INTENTS),
        )
        .where(MessageHour.hour >= first, MessageHour.hour < last)
        .where(scope.messages(MessageHour.group_id))
        .group_by(MessageHour.group_id)
    )
    parts = union_all(
        _from_messages(since, first, scope), hours, _from_messages(last, until, scope)
    ).subquery()
    found = session.connection().execute(
        select(
            parts.c.group_id,
            func.sum(parts.c.messages),
            *(func.sum(parts.c[f"{i}s"]) for i in COUNTED_INTENTS),
        ).group_by(parts.c.group_id)
    )
    return [(g, int(n), int(s), int(c)) for g, n, s, c in found]
