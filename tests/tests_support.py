"""Paths, clocks and row readers tests share (kept out of conftest so test modules can import them)."""

import asyncio
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def migration(filename: str) -> ModuleType:
    """The migration script ``storage/migrations/versions/<filename>``, loaded as a module (their
    names begin with a digit: no import statement reaches them)."""
    path = REPO / "storage" / "migrations" / "versions" / filename
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


class RecordingJournal:
    """A fake ``Journal`` (``bot.events``) that keeps what it committed, in order.

    ``fail(n)`` makes the next ``n`` calls raise (nothing committed), ``hold()`` makes calls wait
    until ``release()``; ``wait(count)`` waits until ``count`` entries are committed.
    """

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.calls = 0
        self.failures_left = 0
        self.order: list[str] = []
        """"committed" once per committed batch; tests add their own marks to check ordering."""
        self._gate: asyncio.Event | None = None
        self.entered = asyncio.Event()
        """Set whenever a call begins (clear it to wait for the next one)."""
        self._changed = asyncio.Condition()

    def fail(self, times: int) -> None:
        """Let the next ``times`` calls raise as a database outage would."""
        self.failures_left = times

    def hold(self) -> None:
        """Make calls wait (before committing) until ``release``."""
        self._gate = asyncio.Event()

    def release(self) -> None:
        """Let held calls go on."""
        if self._gate is not None:
            self._gate.set()
            self._gate = None

    async def __call__(self, batch: Any) -> None:
        self.calls += 1
        self.entered.set()
        async with self._changed:
            self._changed.notify_all()
        if self._gate is not None:
            await self._gate.wait()
        if self.failures_left > 0:
            self.failures_left -= 1
            raise RuntimeError("journal unavailable (database is locked)")
        self.batches.append(list(batch))
        self.order.append("committed")
        async with self._changed:
            self._changed.notify_all()

    @property
    def entries(self) -> list[Any]:
        """Every committed ``Received``, in order."""
        return [entry for batch in self.batches for entry in batch]

    @property
    def events(self) -> list[Any]:
        """The converted events among ``entries``."""
        return [entry.event for entry in self.entries if entry.event is not None]

    async def wait(self, count: int, timeout: float = 10.0) -> list[Any]:
        """Wait until at least ``count`` entries are committed; returns all entries."""
        await self.wait_until(lambda: len(self.entries) >= count, timeout)
        return self.entries

    async def wait_until(self, predicate: Any, timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds (checked whenever a call begins or commits)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)


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
