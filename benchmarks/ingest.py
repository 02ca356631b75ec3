"""Ingest: ordinary group messages from the journal to stored rows with intent, per second.

Residents' messages (``msgabench/intent.csv`` from ../shared/data, numbered so each is new) are
journaled to the inbox as the adapters do (``Dispatcher.receive``, batches of 100, not timed), then
``Dispatcher.process_pending`` is timed until the inbox is empty: the real routes (observers, role
look-up, text analysis) and the real store. Every message must end up stored with an intent.

The floor, in the same run and on the same engine: a naive SQLAlchemy ORM loop that inserts the same
number of ``Message`` rows (sender and group looked up by query, a fixed intent: no text analysis), one
session and one commit per row. Also printed: the text analysis of the same messages alone (no store),
the ceiling that segmentation and classification set; and minyi with ``[text] analysis_process`` on
(timed once that process is ready; its memory printed). ``--repeat`` rounds (default 3) of the three,
medians printed.

With ``--workers N`` (PostgreSQL) it times N worker processes sharing one inbox instead, beside one
worker on the same messages (``--groups``: how many groups they are spread over; a group's messages
are handled by one worker at a time), and prints the SQL statements a message costs beside what one
connection to this PostgreSQL takes — the ceiling of one worker's connection, by arithmetic.

    .venv/bin/python benchmarks/ingest.py [--messages 5000] [--repeat 3] [--database postgresql+psycopg://postgres@127.0.0.1/test]
    .venv/bin/python benchmarks/ingest.py --database postgresql+psycopg://… --workers 2 --groups 200
    .venv/bin/python benchmarks/ingest.py --stored 1000000 [--database …]

With ``--stored N`` it times the same messages on a store already holding 1,000 messages and on one
holding N (bulk-loaded as ``benchmarks/summary.py`` does, a twentieth of them on the measured messages'
topics), each fresh: what the hot path's queries cost as the store grows.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import multiprocessing
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, create_engine, delete, event, func, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.dispatch import fresh_database, settings
from benchmarks.startup import rss_mb
from benchmarks.summary import analyze, load
from bot.app import build_app
from bot.events import Chat, IncomingMessage, Received
from bot.events import Person as Sender
from bot.text import TextAnalyzer
from bot.work import analyse_texts
from storage import make_engine, upgrade
from storage.models import Group, Message, Person, TopicHour

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "msgabench" / "intent.csv"
START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def texts(n: int) -> list[str]:
    """``n`` residents' messages (the public data set, cycled and numbered so none repeats)."""
    with DATA.open(encoding="utf-8") as f:
        rows = [r["text"] for r in csv.DictReader(f) if r["text"].strip()]
    return [f"{rows[i % len(rows)]} {i}" for i in range(n)]


def events(lines: list[str], tag: str, groups: int = 20) -> list[Received]:
    """Group messages from 200 residents in ``groups`` groups, as an adapter hands them over."""
    out = []
    for i, text in enumerate(lines):
        chat = Chat("test", f"g{i % groups}", f"小区{i % groups}", is_group=True)
        message = IncomingMessage(
            platform="test",
            chat=chat,
            sender=Sender("test", f"r{i % 200}", f"居民{i % 200}"),
            text=text,
            message_id=f"{tag}-{i}",
            sent_at=START + timedelta(milliseconds=i),
        )
        out.append(Received.of(message))
    return out


async def minyi_rate(
    url: str, lines: list[str], groups: int = 20, process: bool = False, tag: str = "m"
) -> tuple[float, int]:
    """Messages per second from the inbox to stored rows; and how many were stored with an intent.
    ``process``: with ``[text] analysis_process`` on, timed once the process is ready. ``tag``: the
    messages' ids begin with it (another tag, new messages on the same store)."""
    app = build_app(settings(url, analysis_process=process))
    app.warm_up()
    if process and not app.dispatcher.ahead.start(wait=60):
        raise SystemExit("the analysis process did not start")
    dispatcher = app.dispatcher
    items = events(lines, tag, groups)
    for start in range(0, len(items), 100):
        await dispatcher.receive(items[start : start + 100])
    started = time.perf_counter()
    handled = await dispatcher.process_pending()
    seconds = time.perf_counter() - started
    with Session(app.store.engine) as session:
        stored = session.scalar(
            select(func.count()).select_from(Message).where(Message.intent != "")
        )
    if process:
        analysis = dispatcher.ahead.process
        assert analysis is not None and analysis.pid is not None
        print(
            f"  (the analysis process analysed {analysis.analysed} of them,"
            f" resident memory {rss_mb(analysis.pid):.0f} MB)"
        )
    app.close()
    assert handled == len(lines), (handled, len(lines))
    return len(lines) / seconds, int(stored or 0)


def runs(rates: list[float]) -> str:
    """Each round's rate, for the line of their median."""
    return f"(runs {', '.join(f'{r:.0f}' for r in rates)})"


def naive_rate(url: str, lines: list[str]) -> float:
    """The floor: one ORM session and commit per message (sender and group found by query)."""
    app = build_app(settings(url))
    engine = app.store.engine
    with Session(engine) as session:
        group = Group(platform="test", platform_chat_id="naive", title="naive", created_at=START)
        person = Person(
            platform="test", platform_user_id="naive", display_name="naive", first_seen_at=START
        )
        session.add_all([group, person])
        session.commit()
    started = time.perf_counter()
    for i, text in enumerate(lines):
        with Session(engine) as session:
            group_id = session.scalar(select(Group.id).where(Group.platform_chat_id == "naive"))
            person_id = session.scalar(select(Person.id).where(Person.platform_user_id == "naive"))
            session.add(
                Message(
                    platform="test",
                    chat_id="naive",
                    platform_message_id=f"n-{i}",
                    group_id=group_id,
                    person_id=person_id,
                    text=text,
                    intent="chatter",
                    intent_confidence=0.5,
                    intent_confident=False,
                    department="",
                    from_official=False,
                    sent_at=START + timedelta(milliseconds=i),
                )
            )
            session.commit()
    seconds = time.perf_counter() - started
    app.close()
    return len(lines) / seconds


def analysis_rate(url: str, lines: list[str]) -> float:
    """What text analysis alone allows: the same messages' intents and departments, 50 at a time
    (as the dispatcher's batches classify them), no store."""
    app = build_app(settings(url))
    app.warm_up()
    texts_ = [f"{line} a" for line in lines]  # new texts: no cache answers
    started = time.perf_counter()
    for start in range(0, len(texts_), 50):
        analyse_texts(app.services.text, texts_[start : start + 50])
    seconds = time.perf_counter() - started
    app.close()
    return len(lines) / seconds


def _worker(url: str, ready: Any, start: Any, done: Any) -> None:
    """One worker process: ready its app (text models loaded), say so, wait for the start, handle
    the shared inbox until it is empty, say how many it handled."""

    async def work() -> tuple[int, int]:
        app = build_app(settings(url), migrate=False)
        app.register_worker()
        app.warm_up()
        statements = [0]

        def count(*_: Any) -> None:
            statements[0] += 1

        event.listen(app.store.engine, "before_cursor_execute", count)
        ready.put(True)
        start.wait()
        handled = await app.dispatcher.process_pending()
        app.close()
        return handled, statements[0]

    done.put(asyncio.run(work()))


def workers_rate(
    url: str, lines: list[str], workers: int, groups: int
) -> tuple[float, list[int], int]:
    """Messages per second when ``workers`` processes share one inbox (journaled beforehand, not
    timed) and store the messages; how many each handled; the SQL statements they sent."""

    async def journal() -> None:
        app = build_app(settings(url))
        items = events(lines, "w", groups)
        for first in range(0, len(items), 100):
            await app.dispatcher.receive(items[first : first + 100])
        app.close()

    asyncio.run(journal())
    context = multiprocessing.get_context("spawn")
    ready, start, done = context.Queue(), context.Event(), context.Queue()
    processes = [
        context.Process(target=_worker, args=(url, ready, start, done)) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get()  # the clock starts once every worker is ready
    started = time.perf_counter()
    start.set()
    results = [done.get() for _ in processes]
    seconds = time.perf_counter() - started
    for process in processes:
        process.join()
    handled = [h for h, _ in results]
    assert sum(handled) == len(lines), (handled, len(lines))
    return len(lines) / seconds, handled, sum(n for _, n in results)


def statement_rate(url: str, seconds: float = 3.0) -> float:
    """The floor for one connection: trivial single-row statements per second this PostgreSQL takes
    (an insert and an update per row, a commit every 100 rows) — what one worker's connection could
    send at most if each statement did no work."""
    engine = create_engine(url, poolclass=NullPool)
    done = 0
    with engine.connect() as connection:
        connection.exec_driver_sql("CREATE TEMP TABLE bench_floor (id int PRIMARY KEY, n int)")
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            for _ in range(100):
                connection.exec_driver_sql("INSERT INTO bench_floor VALUES (%(i)s, 0)", {"i": done})
                connection.exec_driver_sql(
                    "UPDATE bench_floor SET n = 1 WHERE id = %(i)s", {"i": done}
                )
                done += 1
            connection.commit()
        elapsed = time.perf_counter() - began
    engine.dispose()
    return 2 * done / elapsed


def _hour(dialect: str) -> Any:
    """The start of a message's UTC hour, as migration 0015's trigger computes it."""
    if dialect == "postgresql":
        return func.timezone("UTC", func.date_trunc("hour", func.timezone("UTC", Message.sent_at)))
    return func.substr(Message.sent_at, 1, 13).op("||")(":00:00.000000")


def stored_before(url: str, count: int, keys: list[str]) -> float:
    """Fill a fresh store with ``count`` synthetic messages (``benchmarks/summary.py``'s bulk load:
    questions, ratings and engagements with them), a twentieth of them carrying the topic keys the
    measured messages have, so the early warning counts real neighbours; returns the seconds it took."""
    started = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    load(engine, count, float("inf"))
    with engine.begin() as connection:
        for i, key in enumerate(keys):
            connection.execute(
                update(Message).where(Message.id % (20 * len(keys)) == i).values(topic_key=key)
            )
        # The topics were given after the insert (the app gives them with it, and the rollup's
        # trigger counts them then): count the hours again, as that trigger would have.
        connection.execute(delete(TopicHour))
        hour = _hour(connection.dialect.name)
        counted = and_(Message.topic_key.is_not(None), Message.from_official.is_(False))
        connection.execute(
            insert(TopicHour).from_select(
                ["topic_key", "hour", "messages"],
                select(Message.topic_key, hour, func.count())
                .where(counted)
                .group_by(Message.topic_key, hour),
            )
        )
    analyze(engine)
    engine.dispose()
    return time.perf_counter() - started


def topic_keys(lines: list[str]) -> list[str]:
    """The distinct topic keys the measured messages will be stored with (group 0's, for local
    topics), as the record observer makes them."""
    found = {
        analysis.topic.key("test:g0")
        for analysis in analyse_texts(TextAnalyzer(), lines)
        if analysis.topic is not None
    }
    return sorted(found)


def compare_stored(database: str | None, lines: list[str], stored: int, repeat: int) -> None:
    """The ingest rate on a store holding 1,000 messages beside one holding ``stored``: both loaded
    first, then ``repeat`` rounds on each in turn (new message ids each round), medians compared."""
    counts = (1000, stored)
    rates: dict[int, list[float]] = {count: [] for count in counts}
    keys = topic_keys(lines)
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stores:
        urls = {}
        for count in counts:
            urls[count] = stores.enter_context(
                fresh_database(database, Path(tmp) / f"stored{count}.db")
            )
            seconds = stored_before(urls[count], count, keys)
            print(f"  loaded {count:>10,} messages in {seconds:6.1f} s")
        for round_ in range(repeat):
            for count in counts:
                rate, _ = asyncio.run(minyi_rate(urls[count], lines, tag=f"r{round_}"))
                rates[count].append(rate)
    engine = "PostgreSQL" if database else "SQLite file"
    print(f"{len(lines)} ordinary group messages, {engine}, beside the messages already stored")
    medians = {count: statistics.median(rates[count]) for count in counts}
    for count in counts:
        print(
            f"  {f'rate with {count:,} stored':<42}{medians[count]:8.0f} msg/s  {runs(rates[count])}"
        )
    print(f"  {'ratio of the medians':<42}{medians[stored] / medians[1000]:8.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--database", help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also time this many worker processes sharing one inbox (PostgreSQL only)",
    )
    parser.add_argument(
        "--groups", type=int, default=20, help="groups the messages are spread over (default 20)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of minyi and the floor (medians printed)"
    )
    parser.add_argument(
        "--stored",
        type=int,
        help="compare the rate on a store already holding this many messages with one holding 1,000",
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat takes 1 or more")
    lines = texts(args.messages)
    if args.stored:
        compare_stored(args.database, lines, args.stored, args.repeat)
        return
    if args.workers > 1:
        if not args.database:
            parser.error("--workers needs --database (PostgreSQL): SQLite takes one worker")
        compare_workers(args.database, lines, args.workers, args.groups)
        return
    compare_naive(args.database, lines, args.repeat)


def compare_naive(database: str | None, lines: list[str], repeat: int) -> None:
    """minyi, with and without the analysis process, beside the naive loop: ``repeat`` rounds of
    the three in turn, each on a fresh store, and the medians (this machine's speed drifts by tens
    of percent within minutes, so one run of each would compare moments, not code)."""
    rates: dict[str, list[float]] = {"minyi": [], "process": [], "naive": []}
    stored = stored_beside = 0
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(repeat):
            with fresh_database(database, Path(tmp) / f"naive{round_}.db") as url:
                rates["naive"].append(naive_rate(url, lines))
            with fresh_database(database, Path(tmp) / f"minyi{round_}.db") as url:
                rate, stored = asyncio.run(minyi_rate(url, lines))
                rates["minyi"].append(rate)
                if round_ == 0:
                    analysis = analysis_rate(url, lines)
            with fresh_database(database, Path(tmp) / f"process{round_}.db") as url:
                rate, stored_beside = asyncio.run(minyi_rate(url, lines, process=True))
                rates["process"].append(rate)
    minyi, beside, naive = (statistics.median(rates[k]) for k in ("minyi", "process", "naive"))
    engine = "PostgreSQL" if database else "SQLite file"
    print(f"{len(lines)} ordinary group messages, {engine}; medians of {repeat} rounds")
    print(f"  minyi, inbox to stored rows with intent   {minyi:8.0f} msg/s  {runs(rates['minyi'])}")
    print(
        f"  the same, [text] analysis_process on      {beside:8.0f} msg/s  {runs(rates['process'])}"
    )
    print(f"  floor: naive ORM loop, commit per row     {naive:8.0f} msg/s  {runs(rates['naive'])}")
    print(f"  ratio minyi / naive                       {minyi / naive:8.2f}x")
    print(f"  ratio with the analysis process / naive   {beside / naive:8.2f}x")
    print(f"  ratio with the analysis process / without {beside / minyi:8.2f}x")
    print(f"  text analysis alone, no store (a ceiling) {analysis:8.0f} msg/s")
    print(f"  stored with an intent: {stored} and {stored_beside} of {len(lines)}")


def compare_workers(database: str, lines: list[str], workers: int, groups: int) -> None:
    """One worker beside ``workers`` on the same messages, each on a fresh schema; the statements
    a message costs and what one connection to this PostgreSQL takes (its ceiling, by arithmetic)."""
    with tempfile.TemporaryDirectory() as tmp:
        with fresh_database(database, Path(tmp) / "one.db") as url:
            one, _, _ = workers_rate(url, lines, 1, groups)
        with fresh_database(database, Path(tmp) / "many.db") as url:
            many, handled, statements = workers_rate(url, lines, workers, groups)
            raw = statement_rate(url)
    per_message = statements / len(lines)
    print(f"{len(lines)} ordinary group messages in {groups} groups, PostgreSQL, shared inbox")
    print(f"  floor: one worker                         {one:8.0f} msg/s")
    print(f"  {workers} workers{'':34}{many:8.0f} msg/s  (each handled {handled})")
    print(f"  ratio {workers} workers / one{'':22}{many / one:8.2f}x")
    print(f"  SQL statements per message                {per_message:8.2f}")
    print(f"  one connection, trivial statements        {raw:8.0f} /s")
    print(f"  so one connection's ceiling               {raw / per_message:8.0f} msg/s")


if __name__ == "__main__":
    main()
