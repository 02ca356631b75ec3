"""Long reads (a supervisor's report) done before their event's unit of work, so the chats go on.

A batch of events runs on the database thread and holds the one writer's turn: a report read inside
it (``/summary`` over ten million messages) would hold every chat's messages and acknowledgements
back for as long as it runs. So a handler asks for such a read with ``Work.read``; in a batch the
first attempt raises ``ReadFirst``: the dispatcher rolls the event's savepoint back, sets its chat
aside (the chat's later events wait, in order) and runs the read on the report thread, on a
connection of its own, while the batches go on with the other chats. Once the read is done the event
is handled again from scratch, and ``Work.read`` returns what was read. The read is taken once: an
attempt rolled back (a database outage) reads again.

Nothing is lost on a crash: until its unit commits, the event is still pending in the inbox and is
handled (and read) again. An in-memory SQLite store has one connection for everything, so there the
read runs inside the unit as any other store call (``concurrent`` is False). A stand-alone unit (a
timer's) reads ahead too: ``UnitReads``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from storage import Store

log = logging.getLogger(__name__)

KEEP_READS = 600.0
"""Seconds a finished read is kept while the inbox reads do not show its event: another worker's
batch may hold the event's row right then (they skip locked rows), and a read thrown away is a long
report read again. After that the event is taken as handled elsewhere and the result dropped."""

StoreRead = Callable[["Store"], Any]
"""A read-only function of the store (the unbound store: it opens its own transaction)."""
ReadKey = tuple[Any, ...]
"""What a read is: its function and arguments (a stand-alone unit finds its reads' results by it)."""


class ReadFirst(Exception):
    """Raised by ``Work.read``: the unit needs ``read`` done first (outside any unit of work)."""

    def __init__(self, read: StoreRead, key: ReadKey) -> None:
        super().__init__("this unit of work needs a read done first")
        self.read = read
        self.key = key


class ReadSource(Protocol):
    """Where ``Work.read`` finds reads done ahead of its unit."""

    concurrent: bool
    many: bool
    """Whether a unit may ask for several reads (an event of a batch asks for one)."""

    def take(self, event_id: int | None, key: ReadKey) -> Future[Any] | None:
        """The finished read (its result or what it raised), if done: else None."""


class ReadAhead:
    """The reads events asked for, running on the report thread, and the results not yet taken.

    ``start`` and the completion run on the event loop; ``take`` and ``holds`` are called from the
    batch on the database thread (a dict's get and pop are atomic there)."""

    def __init__(
        self,
        store: Store,
        *,
        concurrent: bool,
        on_done: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``on_done`` is called (on the event loop) whenever a read is done; ``clock`` in seconds
        (``KEEP_READS``)."""
        self._store = store
        self._clock = clock
        self._on_done = on_done
        self.many = False
        self.concurrent = concurrent
        """False for an in-memory SQLite store (one connection): reads then run in the unit."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minyi-report")
        self._running: dict[str, int] = {}
        """Chat → the event whose read runs (the chat's events wait for it)."""
        self._results: dict[int, tuple[Future[Any], float]] = {}
        """Event → its finished read and when it finished."""

    def holds(self, chat_key: str) -> bool:
        """True while a read for an event of this chat runs: its events wait, in order."""
        return chat_key in self._running

    def take(self, event_id: int | None, key: ReadKey) -> Future[Any] | None:
        """The finished read of this event (its result, or what it raised), once. (An event asks
        for one read: ``key`` is not needed.)"""
        found = None if event_id is None else self._results.pop(event_id, None)
        return None if found is None else found[0]

    def start(self, event_id: int, chat_key: str, read: StoreRead) -> None:
        """Run ``read`` on the report thread for the event; its chat is held until it is done."""
        if chat_key in self._running:
            return
        self._running[chat_key] = event_id

        def done(future: asyncio.Future[Any]) -> None:
            # The result first, then the chat is let go: a batch that sees the chat free finds it.
            self._results[event_id] = (_kept(future, f"event {event_id}"), self._clock())
            del self._running[chat_key]
            self._on_done()

        self._submit(read).add_done_callback(done)

    def _submit(self, read: StoreRead) -> asyncio.Future[Any]:
        return asyncio.get_running_loop().run_in_executor(self._executor, read, self._store)

    async def run(self, read: StoreRead, what: str) -> Future[Any]:
        """Run ``read`` on the report thread and wait for it: its result, or what it raised."""
        task = self._submit(read)
        await asyncio.wait({task})
        return _kept(task, what)

    def forget_all_but(self, pending: Iterable[int]) -> None:
        """Drop results of events not among ``pending`` (an inbox read) for ``KEEP_READS`` seconds:
        handled by another worker meanwhile."""
        keep = set(pending)
        stale = self._clock() - KEEP_READS
        for event_id, (_, done_at) in list(self._results.items()):
            if event_id not in keep and done_at <= stale:
                del self._results[event_id]

    def close(self) -> None:
        """Stop the report thread once the read under way is done; reads not started are dropped
        (their events are still pending: the next start reads again)."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def _kept(future: asyncio.Future[Any], what: str) -> Future[Any]:
    """A finished read's outcome, kept for the unit that asked for it."""
    kept: Future[Any] = Future()
    if future.cancelled():
        kept.cancel()
    elif (error := future.exception()) is not None:
        log.warning("the read for %s failed: %s", what, error)
        kept.set_exception(error)
    else:
        kept.set_result(future.result())
    return kept


class UnitReads:
    """The reads a stand-alone unit (a timer's: the weekly brief) asked for, done ahead of it.

    ``Dispatcher.in_unit`` catches ``ReadFirst``: the unit has rolled back and released the
    writer's turn; the read runs on the report thread, and the unit is tried again from scratch, now
    finding that read done (by its function and arguments: a retry that asks for something else, a
    job another worker fired meanwhile, reads afresh). Each unit asking for ``n`` reads is so tried
    ``n + 1`` times; what it does besides reading is short."""

    def __init__(self, ahead: ReadAhead) -> None:
        self._ahead = ahead
        self.many = True
        self.concurrent = ahead.concurrent
        self._done: list[tuple[ReadKey, Future[Any]]] = []

    def take(self, event_id: int | None, key: ReadKey) -> Future[Any] | None:
        """The read done for ``key``, if any."""
        return next((found for done, found in self._done if done == key), None)

    async def run(self, first: ReadFirst, what: str) -> None:
        """Do the read the unit asked for."""
        self._done.append((first.key, await self._ahead.run(first.read, what)))
