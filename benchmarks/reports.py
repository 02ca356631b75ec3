"""Chats while reports run: group messages and acknowledgements with a supervisor's ``/summary`` at once.

On a store bulk-loaded as ``benchmarks/summary.py`` loads it (``--messages``; ``--loaded URL`` for a
store an earlier ``summary.py --keep`` kept), the background worker (``Dispatcher.run``, as ``minyi run``
runs it) takes, in each of three runs on the same store:

1. residents' group messages (``msgabench/intent.csv`` from ../shared/data, as ``ingest.py`` uses),
   all journaled at once, timed until every one is stored: messages per second;
2. then residents' @-mention questions one after another, each timed from journaled to its
   acknowledgement posted: p50 and p99.

The runs differ in what a supervisor does meanwhile. The floor: nothing. minyi: ``/summary 30d`` asked
again as soon as the last one is answered, its read done ahead of its unit of work (``bot.reads``).
And for comparison the same reports read inside the unit of work, as every store call is (the way
minyi read reports before ``bot.reads``): there, the chats wait while a report runs.
The first report is journaled before the residents' messages, so the worker meets it first. A floor
run before the three, not counted, warms the store's pages and caches.

    .venv/bin/python benchmarks/reports.py [--messages 300000] [--group-messages 2000] [--questions 60]
    .venv/bin/python benchmarks/reports.py --loaded postgresql+psycopg://…?options=-csearch_path%3D…
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.dispatch import fresh_database, settings
from benchmarks.ingest import texts
from benchmarks.summary import NOW, analyze, load
from bot.adapters.memory import MemoryAdapter, Posted
from bot.app import MinyiApp, build_app
from bot.events import Chat, IncomingMessage, Received
from bot.events import Person as Sender
from storage import make_engine, upgrade
from storage.models import InboxEvent

SUPERVISOR = Sender("test", "chen", "陈静")
ASKER = Sender("test", "asker", "刘先生")
RUNS = ("floor: no report", "minyi: reports read ahead", "reports read inside the unit")


@dataclass
class Figures:
    """What one run measured."""

    rate: float = 0.0
    acks: list[float] = field(default_factory=list)
    reports: list[float] = field(default_factory=list)


class Bench:
    """The app, a memory adapter the postman delivers to, and a way to wait for what it posts."""

    def __init__(self, app: MinyiApp, tag: str) -> None:
        """``tag`` starts the message ids of this run (a run reusing another's would be ignored as
        a redelivery)."""
        self.app = app
        self.tag = tag
        self.bot = MemoryAdapter(app.dispatcher.handle, clock=lambda: NOW)
        app.dispatcher.connect(self.bot, bot_username="minyi_bot")
        self.posted = asyncio.Event()
        self.bot.on_posted = self._on_posted  # type: ignore[method-assign,assignment]
        self.count = 0

    def _on_posted(self, _posted: Posted) -> None:
        self.posted.set()

    def event(self, text: str, sender: Sender, chat: Chat) -> Received:
        self.count += 1
        return Received.of(
            IncomingMessage(
                platform="test",
                chat=chat,
                sender=sender,
                text=text,
                message_id=f"{self.tag}-{self.count}",
                sent_at=NOW,
            )
        )

    async def posted_to(self, chat_id: str, before: int) -> Posted:
        """The first message posted to ``chat_id`` after the first ``before`` of the outbox."""
        while True:
            for posted in self.bot.outbox[before:]:
                if posted.chat_id == chat_id:
                    return posted
            self.posted.clear()
            await self.posted.wait()

    def handled(self, item: Received) -> bool:
        """True once the event is handled (then so is every event journaled before it, but a
        supervisor's waiting for its report: events are handled in order)."""
        with self.app.store.engine.connect() as connection:
            state = connection.scalar(
                select(InboxEvent.state).where(
                    InboxEvent.platform == item.platform, InboxEvent.event_key == item.key
                )
            )
        return state is not None and state != "pending"


async def supervise(bench: Bench, took: list[float], stop: asyncio.Event) -> None:
    """The supervisor asks for the 30-day summary again as soon as the last one is answered, until
    ``stop`` is set (the report under way is waited for)."""
    private = Chat("test", SUPERVISOR.user_id, SUPERVISOR.display_name, is_group=False)
    while not stop.is_set():
        before = len(bench.bot.outbox)
        started = time.perf_counter()
        await bench.app.dispatcher.receive([bench.event("/summary 30d", SUPERVISOR, private)])
        await bench.posted_to(private.chat_id, before)
        took.append(time.perf_counter() - started)


async def one_run(url: str, lines: list[str], questions: int, run: str, tag: str) -> Figures:
    """One of ``RUNS`` on the loaded store: group messages, then questions, timed."""
    # An admin may ask for every summary.
    admin = {"name": "陈静", "role": "admin", "identities": ["test:chen"]}
    app = build_app(settings(url, admin), clock=lambda: NOW)
    app.warm_up()
    bench = Bench(app, tag)
    app.dispatcher.reads.concurrent = run == RUNS[1] and app.dispatcher.reads.concurrent
    figures = Figures()
    worker = asyncio.create_task(app.dispatcher.run(poll=0.05))
    reports, stop = None, asyncio.Event()
    if run != RUNS[0]:
        # Journaled before the residents' messages, so the worker meets the report first.
        reports = asyncio.create_task(supervise(bench, figures.reports, stop))
        await asyncio.sleep(0)
    try:
        items = [
            bench.event(text, Sender("test", f"r{i % 200}", f"居民{i % 200}"), group(i))
            for i, text in enumerate(lines)
        ]
        started = time.perf_counter()
        for at in range(0, len(items), 100):
            await app.dispatcher.receive(items[at : at + 100])
        while not bench.handled(items[-1]):
            await asyncio.sleep(0.02)
        figures.rate = len(items) / (time.perf_counter() - started)
        for i in range(questions):
            chat = group(i)
            at = len(bench.bot.outbox)
            asked = time.perf_counter()
            item = bench.event(f"@政务助手 {i}号楼电梯坏了，什么时候修？", ASKER, chat)
            await app.dispatcher.receive([item])
            await bench.posted_to(chat.chat_id, at)
            figures.acks.append(time.perf_counter() - asked)
    finally:
        stop.set()
        if reports is not None:
            await reports
        await app.dispatcher.drain(60)
        await asyncio.gather(worker, return_exceptions=True)
        app.close()
    return figures


def group(i: int) -> Chat:
    """One of the 20 residents' groups the measured messages come from."""
    return Chat("test", f"bench-g{i % 20}", f"小区{i % 20}", is_group=True)


@contextmanager
def loaded_store(args: argparse.Namespace, tmp: str) -> Iterator[str]:
    """The store to measure on: ``--loaded``, or a fresh one bulk-loaded with ``--messages``."""
    if args.loaded:
        yield args.loaded
        return
    with fresh_database(args.database, Path(tmp) / "reports.db") as url:
        engine = make_engine(url)
        upgrade(engine)
        messages, questions, seconds = load(engine, args.messages, float("inf"))
        analyze(engine)
        engine.dispose()
        print(f"loaded {messages:,} messages, {questions:,} questions in {seconds:.1f} s")
        yield url


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300_000, help="messages bulk-loaded")
    parser.add_argument("--group-messages", type=int, default=2000)
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--loaded", help="the URL of a store an earlier summary.py --keep loaded")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the loaded officials have no chat to be told in
    lines = texts(args.group_messages * (len(RUNS) + 1))
    found: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory() as tmp, loaded_store(args, tmp) as url:
        # A first floor run, not counted, warms the store's pages and caches for all three. The
        # message ids are new to the store each time (a --loaded store measured again would take
        # an earlier run's for redeliveries and answer none).
        token = secrets.token_hex(4)
        for n, run in enumerate((RUNS[0], *RUNS)):
            part = lines[n * args.group_messages : (n + 1) * args.group_messages]
            found[run] = asyncio.run(one_run(url, part, args.questions, run, f"{token}-{n}"))
    engine = make_engine(url).dialect.name
    print(
        f"{args.group_messages} group messages, then {args.questions} questions one at a time, "
        f"{engine}, while a supervisor asks for /summary 30d again and again"
    )
    floor = found[RUNS[0]]
    for run, f in found.items():
        p50, p99 = statistics.median(f.acks) * 1000, percentile(f.acks, 0.99) * 1000
        line: Any = (
            f"  {run:30s} {f.rate:7.0f} msg/s ({f.rate / floor.rate:4.2f}x)  "
            f"ack p50 {p50:7.1f} ms  p99 {p99:7.1f} ms"
        )
        if f.reports:
            line += f"  {len(f.reports)} reports, mean {statistics.mean(f.reports):.2f} s"
        print(line)


if __name__ == "__main__":
    main()
