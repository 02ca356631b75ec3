"""How long minyi takes to handle a resident's question, without any platform in the way.

Questions go through the in-memory adapter, the real dispatcher, handlers, text services and store
(SQLite file by default; ``--database`` for PostgreSQL). The floor, measured in the same run, is the same
dispatcher with an empty route table on the same database (journal, unit of work and role lookup only).
Prints per-question p50/p99 latency, throughput, and the time spent in each store call.

    python benchmarks/dispatch.py [--questions 300] [--database postgresql+psycopg://postgres@127.0.0.1/test]
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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.schemas import create_schema, drop_schema
from bot import work as dispatch
from bot.adapters.memory import MemoryAdapter
from bot.app import build_app
from bot.config import Settings
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


def settings(url: str, *more_officials: dict[str, Any]) -> Settings:
    """One official, 张伟, for the group ``test:g``, and ``more_officials`` (roster entries)."""
    return Settings.model_validate(
        {
            "database": {"url": url},
            "departments": [{"name": "住房和城乡建设局", "keywords": ["电梯", "小区"]}],
            "officials": [
                {
                    "name": "张伟",
                    "department": "住房和城乡建设局",
                    "identities": ["test:zw"],
                    "groups": ["test:g"],
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
    parser.add_argument("--database", help="SQLAlchemy URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    dispatch.Services.db = _timed_db  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        with fresh_database(args.database, Path(tmp) / "floor.db") as floor_url:
            floor = asyncio.run(measure(floor_url, args.questions, floor=True))
        with fresh_database(args.database, Path(tmp) / "minyi.db") as full_url:
            full = asyncio.run(measure(full_url, args.questions, floor=False))
    print(f"{args.questions} questions, database {'given' if args.database else 'SQLite file'}")
    report("floor", floor)
    report("minyi", full)
    print("store calls per question (minyi):")
    for name, times in sorted(STORE_TIME.items(), key=lambda kv: -sum(kv[1])):
        print(
            f"  {name:24s} {len(times) / args.questions:4.1f} x {statistics.mean(times) * 1000:6.2f} ms"
        )


if __name__ == "__main__":
    main()
