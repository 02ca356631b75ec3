"""Paths tests share (kept out of conftest so test modules can import them)."""

from pathlib import Path

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
