"""How long minyi takes to handle a resident's question, without any platform in the way.

Questions go through the in-memory adapter, the real dispatcher, handlers, text services and store
(SQLite file by default; ``--database`` for PostgreSQL). The floor, measured in the same run, is the same
dispatcher with an empty route table on the same database (journal, unit of work and role lookup only).
Prints per-question p50/p99 latency, throughput, and the time spent in each store call.

Then a burst, as a storm brings one: ``--burst`` questions (default 500) journaled at once, as the
adapters journal a page of updates, from as many residents of ``BURST_GROUPS`` groups, handled by the running bot
(``Dispatcher.run``, the postman beside it) until every resident has an acknowledgement: questions per
second (all of them over the time to the last acknowledgement) and each acknowledgement's latency from
the journal, beside the empty chain's burst on the same database; and the SQL statements and commits
the burst cost per question (counted by engine listeners once the questions are journaled).

    python benchmarks/dispatch.py [--questions 300] [--burst 500] [--database postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.schemas import create_schema, drop_schema
from bot import work as dispatch
from bot.adapters.memory import MemoryAdapter
from bot.app import build_app
from bot.config import Settings
from bot.events import IncomingMessage, Received
from bot.routes import RouteTable

STORE_TIME: dict[str, list[float]] = collections.defaultdict(list)
_original_db = dispatch.Services.db


async def _timed_db(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
    started = time.perf_counter()
    try:
        return await _original_db(self, fn, *args, **kwargs)
    finally:
        STORE_TIME[fn.__name__].append(time.perf_counter() - started)


@contextlib.contextmanager
def fresh_database(url: str | None, sqlite_file: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a throwaway schema on the given PostgreSQL."""
    if not url:
        yield f"sqlite:///{sqlite_file}"
        return
    schema, inside = create_schema(url, "bench")
    try:
        yield inside
    finally:
        drop_schema(url, schema)


BURST_GROUPS = 100
"""The groups a burst's questions come from (a storm reaches a city's groups, not one): Telegram
would let one group have only 20 of the bot's messages a minute."""


def settings(url: str, *more_officials: dict[str, Any], analysis_process: bool = False) -> Settings:
    """One official, 张伟, for the group ``test:g`` and the burst's groups ``test:g0`` …, and
    ``more_officials`` (roster entries); ``analysis_process``: ``[text] analysis_process``."""
    return Settings.model_validate(
        {
            "database": {"url": url},
            "text": {"analysis_process": analysis_process},
            "departments": [{"name": "住房和城乡建设局", "keywords": ["电梯", "小区"]}],
            "officials": [
                {
                    "name": "张伟",
                    "department": "住房和城乡建设局",
                    "identities": ["test:zw"],
                    "groups": ["test:g", *(f"test:g{n}" for n in range(BURST_GROUPS))],
                },
                *more_officials,
            ],
        }
    )


async def measure(url: str, n: int, floor: bool) -> list[float]:
    app = build_app(settings(url))
    if floor:
        app.dispatcher.routes = RouteTable((), ())
    bot = MemoryAdapter(app.dispatcher.handle)
    app.dispatcher.connect(bot)
    group = bot.group("幸福里小区", "g")
    tag = "floor" if floor else "minyi"
    app.warm_up()  # as `minyi run` does before the first message
    STORE_TIME.clear()
    latencies = []
    for i in range(n):
        resident = bot.person(f"居民{i}", f"r{i}")
        started = time.perf_counter()
        await bot.say(
            f"@政务助手 {i}号楼电梯坏了，什么时候修？",
            by=resident,
            chat=group,
            message_id=f"{tag}-{i}",
        )
        latencies.append(time.perf_counter() - started)
    app.close()
    return latencies


async def measure_burst(
    url: str, n: int, floor: bool
) -> tuple[list[float], float, collections.Counter[str]]:
    """``n`` questions journaled at once; (each resident's acknowledgement latency from the journal
    commit, seconds until the last, the SQL ``statements`` and ``commits`` handling them cost). The
    floor's empty chain sends nothing: no latencies, and the seconds until every event is handled."""
    app = build_app(settings(url))
    sql: collections.Counter[str] = collections.Counter()
    counting = {"on": False}

    def statement(*_: Any) -> None:
        sql["statements"] += counting["on"]

    def commit(*_: Any) -> None:
        sql["commits"] += counting["on"]

    event.listen(app.store.engine, "before_cursor_execute", statement)
    event.listen(app.store.engine, "commit", commit)
    if floor:
        app.dispatcher.routes = RouteTable((), ())
    bot = MemoryAdapter(app.dispatcher.handle)
    dispatcher = app.dispatcher
    dispatcher.connect(bot)
    groups = [bot.group(f"幸福里{n}区", f"g{n}") for n in range(BURST_GROUPS)]
    app.warm_up()
    tag = "burst-floor" if floor else "burst"
    # One question first, untimed: statements compiled and the group known, as in a running bot.
    await bot.say("@政务助手 热身，电梯什么时候修？", by=bot.person("热身", "w"), chat=groups[0])
    residents = [bot.person(f"居民{i}", f"b{i}") for i in range(n)]
    events = [
        IncomingMessage(
            platform=bot.platform,
            chat=groups[i % BURST_GROUPS],
            sender=resident,
            message_id=f"{tag}-{i}",
            text=f"@政务助手 {i % 30 + 1}号楼电梯坏了，什么时候修？",
            sent_at=datetime.now(UTC),
        )
        for i, resident in enumerate(residents)
    ]
    waiting = {e.message_id for e in events}
    acked: dict[str, float] = {}
    done = asyncio.Event()

    def on_posted(posted: Any) -> None:
        # A resident's acknowledgement (a new ticket's, or a 同问's) answers their message.
        replied = posted.message.reply_to_message_id
        if replied in waiting:
            waiting.discard(replied)
            acked[replied] = time.perf_counter()
            if not waiting:
                done.set()

    bot.on_posted = on_posted  # type: ignore[method-assign]
    runner = asyncio.create_task(dispatcher.run(poll=0.05))
    await dispatcher.receive([Received.of(e) for e in events])
    counting["on"] = True
    started = time.perf_counter()
    if floor:
        while await dispatcher.process_pending():
            pass
        elapsed = time.perf_counter() - started
        latencies = []  # the empty chain acknowledges nothing
    else:
        await asyncio.wait_for(done.wait(), 600)
        elapsed = max(acked.values()) - started
        latencies = [at - started for at in acked.values()]
    await dispatcher.drain(5)
    counting["on"] = False
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)
    app.close()
    return latencies, elapsed, sql


def report(name: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    worst = ordered[-1] * 1000
    rate = len(ordered) / sum(ordered)
    print(
        f"{name:6s} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  max {worst:7.2f} ms  {rate:6.1f} questions/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument(
        "--burst", type=int, default=500, help="questions journaled at once (0: none)"
    )
    parser.add_argument("--database", help="SQLAlchemy URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    dispatch.Services.db = _timed_db  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        with fresh_database(args.database, Path(tmp) / "floor.db") as floor_url:
            floor = asyncio.run(measure(floor_url, args.questions, floor=True))
        with fresh_database(args.database, Path(tmp) / "minyi.db") as full_url:
            full = asyncio.run(measure(full_url, args.questions, floor=False))
        calls = dict(STORE_TIME)
        dispatch.Services.db = _original_db  # type: ignore[method-assign]
        bursts = []
        if args.burst:
            for floor_run in (True, False):
                name = "floor" if floor_run else "minyi"
                with fresh_database(args.database, Path(tmp) / f"burst-{name}.db") as url:
                    bursts.append((name, *asyncio.run(measure_burst(url, args.burst, floor_run))))
    print(f"{args.questions} questions, database {'given' if args.database else 'SQLite file'}")
    report("floor", floor)
    report("minyi", full)
    for name, latencies, elapsed, sql in bursts:
        line = f"{name:6s} burst of {args.burst}: {args.burst / elapsed:6.1f} questions/s ({elapsed:.2f} s)"
        if latencies:
            ordered = sorted(latencies)
            line += (
                f"; acknowledgement p50 {statistics.median(ordered) * 1000:7.1f} ms "
                f"p99 {ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000:7.1f} ms"
            )
        print(line)
        print(
            f"{'':6s}   per question: {sql['statements'] / args.burst:.1f} SQL statements, "
            f"{sql['commits'] / args.burst:.2f} commits"
        )
    print("store calls per question (minyi, one at a time):")
    for name, times in sorted(calls.items(), key=lambda kv: -sum(kv[1])):
        print(
            f"  {name:24s} {len(times) / args.questions:4.1f} x {statistics.mean(times) * 1000:6.2f} ms"
        )


if __name__ == "__main__":
    main()
