"""Requests made side by side, written together: one trip to the database thread and one commit for
all the requests several tasks make in the same turn of the event loop (or while the previous batch is
being written) — group commit for the outbox sender's claims and outcomes (``bot.outbox``).

A request waits at most for the batch before it: the first one of a quiet moment is written after a
single turn of the loop, so the others started with it (the chats of one delivery round) can join.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Gathers requests and hands them to ``write`` in batches, one batch at a time.

    ``write(items)`` returns one outcome per item, in order: a result, or an exception that only that
    request raises. An exception ``write`` raises is raised by every request of the batch."""

    def __init__(
        self, write: Callable[[Sequence[T]], Awaitable[Sequence[R | BaseException]]]
    ) -> None:
        self._write = write
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        """Write ``item`` with the requests made beside it; its outcome."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # the tasks started beside this request ask in this turn of the loop
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                outcomes: Sequence[R | BaseException] = await self._write(
                    [item for item, _ in batch]
                )
            except asyncio.CancelledError:
                for _, future in batch + self._waiting:
                    future.cancel()
                self._waiting = []
                raise
            except Exception as exc:
                outcomes = [exc] * len(batch)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue  # its caller was cancelled meanwhile
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
