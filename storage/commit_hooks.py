"""Work a unit of work leaves for just before it commits (``storage.base``: ``end_unit`` and
``unit_of_work``).

On PostgreSQL several workers share rows that many of their messages touch: a topic's hour in the
rollup (``storage.topic_rollup``), a warning while its burst lasts (``storage.warnings``). Changed at
each message, such a row would be held by a batch until it commits, and two workers' batches would
wait for each other or deadlock. Changed once, in a fixed order, just before the commit, it is held
for the commit alone.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection
from sqlalchemy.orm import Session

Hook = Callable[[Session, Connection], None]
BEFORE_COMMIT: list[Hook] = []
"""Called in order with the unit's session and connection just before it commits."""


def before_commit(hook: Hook) -> Hook:
    """Register ``hook`` (a decorator)."""
    BEFORE_COMMIT.append(hook)
    return hook


def run_before_commit(session: Session, connection: Connection) -> None:
    """Run every registered hook for a unit about to commit."""
    for hook in BEFORE_COMMIT:
        hook(session, connection)
