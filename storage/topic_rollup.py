"""The early warning's hourly topic rollup (``topic_hours``), added to once per unit of work on
PostgreSQL.

A trigger adds every inserted resident's message to its topic's hour (migrations 0015, 0016). Inside
a unit of work on PostgreSQL, ``record_message`` asks it not to (``defer``) and remembers the
message; just before the unit commits, ``add_deferred`` adds the unit's messages in one statement, in
key order. The rows are then held only for the commit, and every unit takes them in the same order:
two workers' batches about one city-wide topic neither wait for each other's whole batch nor deadlock.
Messages a savepoint rolled back are gone from ``messages``, so the statement, which reads them back
by id, never counts them. SQLite has one writer: its trigger counts as it always did.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.orm import Session

from storage.commit_hooks import before_commit

DEFERRED = "minyi.topic_hours"
"""``Session.info`` key: the ids of the unit's messages the rollup has yet to count."""
EARLIEST = "minyi.topic_hours_earliest"
"""``Session.info`` key: the earliest hour of the unit's messages the rollup has yet to count."""
ASKED = "minyi.topic_hours_asked"
"""``Session.info`` key: set once the unit's transaction told the trigger to leave its messages."""

_DEFER = text("SELECT set_config('minyi.defer_topic_hours', 'on', true)")
_ADD = text(
    "INSERT INTO topic_hours (topic_key, hour, messages) SELECT topic_key, "
    "date_trunc('hour', sent_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*) FROM messages "
    "WHERE id = ANY(CAST(:ids AS integer[])) AND topic_key IS NOT NULL AND NOT from_official "
    "GROUP BY 1, 2 ORDER BY 1, 2 "
    "ON CONFLICT (topic_key, hour) DO UPDATE SET messages = topic_hours.messages + excluded.messages"
).bindparams(bindparam("ids"))


def defer(session: Session, connection: Connection) -> bool:
    """Before a message about a topic is inserted in a unit of work: True (and the trigger told to
    leave this transaction's messages) on PostgreSQL, where the caller then ``remember``s it."""
    if connection.dialect.name != "postgresql":
        return False
    if not session.info.get(ASKED):
        connection.execute(_DEFER)
        session.info[ASKED] = True
    return True


def remember(session: Session, message_id: int, hour: datetime) -> None:
    """The unit inserted message ``message_id`` (of the UTC ``hour``) after ``defer``: count it at
    commit."""
    session.info.setdefault(DEFERRED, []).append(message_id)
    earliest = session.info.get(EARLIEST)
    if earliest is None or hour < earliest:
        session.info[EARLIEST] = hour


def uncounted_before(session: Session, hour: datetime) -> list[int]:
    """The ids of the unit's messages not in the rollup yet, when any of them is older than
    ``hour`` (a reader of the rollup's hours before it counts them itself); else []."""
    earliest = session.info.get(EARLIEST)
    if earliest is None or earliest >= hour:
        return []
    return list(session.info.get(DEFERRED, ()))


def forget_asked(session: Session) -> None:
    """A savepoint was rolled back: so was the setting it may have made; ask again next time."""
    session.info.pop(ASKED, None)


@before_commit
def add_deferred(session: Session, connection: Connection) -> None:
    """Just before the unit commits: its messages into the rollup, one statement, in key order."""
    ids = session.info.pop(DEFERRED, None)
    session.info.pop(EARLIEST, None)
    if ids:
        connection.execute(_ADD, {"ids": ids})
