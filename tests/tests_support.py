"""Paths, clocks and row readers tests share (kept out of conftest so test modules can import them)."""

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


class SteppingClock:
    """A monotonic clock whose ``sleep`` advances it at once, for rate limiters and back-off."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the wait, move the clock, and yield to the loop once."""
        import asyncio

        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


# ---------------------------------------------------------------- rows, read without the store
# The store offers no reader production does not use; tests check what it wrote with plain selects.


def rows(store: Any, query: Any) -> list[tuple[Any, ...]]:
    """Every row ``query`` selects from the store's database, as tuples."""
    from sqlalchemy.orm import Session

    with Session(store.engine) as session:
        return [tuple(row) for row in session.execute(query)]


def _scalars(store: Any, query: Any) -> list[Any]:
    return [row[0] for row in rows(store, query)]


def ratings(store: Any, question_id: int) -> list[str]:
    """Scores given to a question, oldest first."""
    from sqlalchemy import select

    from storage.models import Rating

    query = select(Rating.score).where(Rating.question_id == question_id).order_by(Rating.id)
    return _scalars(store, query)


def states(store: Any, question_id: int) -> list[str]:
    """The states a question went through, oldest first (one per transition)."""
    from sqlalchemy import select

    from storage.models import QuestionTransition as T

    query = select(T.to_state).where(T.question_id == question_id).order_by(T.id)
    return _scalars(store, query)


def engagement_counts(store: Any, official_id: int) -> dict[str, int]:
    """How many actions of each kind an official has on record."""
    from collections import Counter

    from sqlalchemy import select

    from storage.models import Engagement

    query = select(Engagement.kind).where(Engagement.official_id == official_id)
    return dict(Counter(_scalars(store, query)))
