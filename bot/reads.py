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
read runs inside the unit as any other store call (``concurrent`` is False).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage import Store

log = logging.getLogger(__name__)

StoreRead = Callable[["Store"], Any]
"""A read-only function of the store (the unbound store: it opens its own transaction)."""


class ReadFirst(Exception):
    """Raised by ``Work.read`` in a batch: the event's handler needs ``read`` done first."""

    def __init__(self, read: StoreRead) -> None:
        super().__init__("this event needs a read done before its unit of work")
        self.read = read


class ReadAhead:
    """The reads events asked for, running on the report thread, and the results not yet taken.

    ``start`` and the completion run on the event loop; ``take`` and ``holds`` are called from the
    batch on the database thread (a dict's get and pop are atomic there)."""

    def __init__(self, store: Store, *, concurrent: bool, on_done: Callable[[], None]) -> None:
        """``on_done`` is called (on the event loop) whenever a read is done."""
        self._store = store
        self._on_done = on_done
        self.concurrent = concurrent
        """False for an in-memory SQLite store (one connection): reads then run in the unit."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minyi-report")
        self._running: dict[str, int] = {}
        """Chat → the event whose read runs (the chat's events wait for it)."""
        self._results: dict[int, Future[Any]] = {}
        self._tasks: set[asyncio.Future[Any]] = set()

    def holds(self, chat_key: str) -> bool:
        """True while a read for an event of this chat runs: its events wait, in order."""
        return chat_key in self._running

    @property
    def busy(self) -> bool:
        """True while any read runs."""
        return bool(self._running)

    def take(self, event_id: int | None) -> Future[Any] | None:
        """The finished read of this event (its result, or what it raised), once."""
        return None if event_id is None else self._results.pop(event_id, None)

    def start(self, event_id: int, chat_key: str, read: StoreRead) -> None:
        """Run ``read`` on the report thread for the event; its chat is held until it is done."""
        if chat_key in self._running:
            return
        self._running[chat_key] = event_id
        loop = asyncio.get_running_loop()
        task = loop.run_in_executor(self._executor, read, self._store)
        self._tasks.add(task)

        def done(future: asyncio.Future[Any]) -> None:
            self._tasks.discard(future)
            kept: Future[Any] = Future()
            if future.cancelled():
                kept.cancel()
            elif (error := future.exception()) is not None:
                log.warning("the read for event %s failed: %s", event_id, error)
                kept.set_exception(error)
            else:
                kept.set_result(future.result())
            # The result first, then the chat is let go: a batch that sees the chat free finds it.
            self._results[event_id] = kept
            del self._running[chat_key]
            self._on_done()

        task.add_done_callback(done)

    def forget_all_but(self, pending: Iterable[int]) -> None:
        """Drop results of events no longer pending (handled by another worker meanwhile)."""
        keep = set(pending)
        for event_id in [i for i in self._results if i not in keep]:
            del self._results[event_id]

    def close(self) -> None:
        """Stop the report thread once the reads under way are done."""
        self._executor.shutdown(wait=True)
