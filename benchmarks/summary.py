"""How long the supervisor summary (``/summary 7d``, ``minyi report --since 7d``) takes on a large store.

Synthetic rows are bulk-loaded into the real schema (migrated by Alembic, so the rollups' triggers count
the messages and keep each question's latest rating as they go in): officials, groups, residents, messages spread over 30 days, questions (2% of
the messages) in every state, each with its hot-topic phrases (``question_phrases`` of its text, as the
ask handler stores them; the texts name a building and one of a few problems), ratings and engagements. On SQLite (the default, a temporary file)
1,000,000 messages are loaded; on PostgreSQL (``--database``) 10,000,000, by COPY. ``--messages`` sets
another count and ``--load-seconds`` a budget (the script says how many fit and how long loading took).
After loading, SQLite gets the sampled ANALYZE that ``storage.upgrade`` runs at every start, PostgreSQL a
VACUUM ANALYZE (what autovacuum does after a bulk load). ``--keep`` keeps the store and ``--loaded URL``
measures it again without loading (``benchmarks/web.py --loaded`` takes it too).

Then the summary of the last 7 days, as ``/summary`` and ``minyi report`` ask for it (naming the first
``OVERDUE_LISTED`` overdue questions), is timed twice beside its floor, measured in the same run:
``Store.summary`` alone (the figures), and the whole of what ``/summary`` does (``Store.summary`` with
the hot-topic phrases counted, then ``hot_topics``). The floor is the same figures from hand-written SQL
through the bare DB-API cursor (no ORM, no statement building, no tallies, every message of the period
counted by one GROUP BY), and for the second the phrases counted by one GROUP BY too. Then all that
``/summary`` reads (``handlers.summary.read_summary``: the summary, its hot topics and the
public-opinion lines, such as the unaddressed complaints), without a floor. Each runs
``--repeat`` times, interleaved; the best and the median are printed, with minyi's statement count and a
check that both found the same figures (totals, messages per group, engagements, the overdue questions
named and their count, the phrases counted). Once, for reference, the hot topics are also found as they
were before the phrases were stored: every question text of the period read and ``hot_phrases`` run over
them (which must give the same list).

    .venv/bin/python benchmarks/summary.py [--messages 1000000] [--repeat 5] [--keep]
    .venv/bin/python benchmarks/summary.py --database postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Connection, Engine, event, insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.schemas import create_schema, drop_schema
from bot.text.hot_topics import (
    hot_phrases,
    message_phrases,
    phrase_support,
    question_phrases,
)
from bot.text.privacy import mask
from handlers.summary import HOT_PHRASES, OVERDUE_LISTED, hot_topics, read_summary
from storage import Store, make_engine, upgrade
from storage.models import (
    Engagement,
    Group,
    Message,
    Official,
    Person,
    Question,
    QuestionPhrase,
    Rating,
)
from storage.records import RATING_SCORES, EngagementKind, QuestionState, Summary
from storage.reports import EVERYTHING

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
HISTORY_DAYS = 30
OFFICIALS, GROUPS, RESIDENTS = 60, 500, 20_000
CHUNK = 20_000
INTENTS = ("chatter",) * 6 + ("question", "question", "suggestion", "complaint")
DEPARTMENTS = ("住房和城乡建设局", "交通运输局", "教育局", "卫生健康委", "")
STATES = sorted(QuestionState.ALL)
BUILDINGS = 40
PROBLEMS = (
    "电梯坏了",
    "停水了",
    "的路灯不亮",
    "门口垃圾没人清理",
    "楼下烧烤店油烟太大",
    "广场舞音响太吵",
    "停车位被占",
    "快递柜坏了",
    "楼顶漏水",
    "停电了",
    "消防通道堵了",
    "绿化带被占",
)
"""What the synthetic questions are about: ``N号楼`` and one of these, so that both the problems and
each building's problems are hot topics."""

FLOOR_SQL = {
    # Credited to whoever answered, else the assignee; on time when the final answer met the deadline
    # in force and the ticket is not waiting again (storage/reports.py's rules).
    "questions": """
        SELECT coalesce(q.answered_by_id, q.assignee_id), q.group_id, q.department, count(*),
          sum(CASE WHEN q.first_response_at IS NOT NULL THEN 1 ELSE 0 END),
          sum(CASE WHEN q.answered_at <= q.due_at
              AND q.state NOT IN ('open', 'transferred', 'reopened') THEN 1 ELSE 0 END),
          sum(CASE WHEN q.state = 'resolved' THEN 1 ELSE 0 END),
          sum(CASE WHEN q.state IN ('open', 'transferred', 'reopened') AND q.due_at < ?
              THEN 1 ELSE 0 END),
          sum(CASE WHEN r.score = 'satisfied' THEN 1 ELSE 0 END),
          sum(CASE WHEN r.score = 'basically_satisfied' THEN 1 ELSE 0 END),
          sum(CASE WHEN r.score = 'unsatisfied' THEN 1 ELSE 0 END)
        FROM questions q
        LEFT JOIN ratings r ON r.id = (SELECT max(id) FROM ratings WHERE question_id = q.id)
        WHERE q.created_at >= ? AND q.created_at < ?
        GROUP BY coalesce(q.answered_by_id, q.assignee_id), q.group_id, q.department""",
    "response_times": """
        SELECT coalesce(answered_by_id, assignee_id), group_id, department, created_at,
          first_response_at FROM questions
        WHERE created_at >= ? AND created_at < ? AND first_response_at IS NOT NULL""",
    "engagements": """
        SELECT official_id, group_id, kind, count(*) FROM engagements
        WHERE at >= ? AND at < ? GROUP BY official_id, group_id, kind""",
    "messages": """
        SELECT group_id, count(*),
          sum(CASE WHEN intent_confident AND NOT from_official AND intent = 'suggestion'
              THEN 1 ELSE 0 END),
          sum(CASE WHEN intent_confident AND NOT from_official AND intent = 'complaint'
              THEN 1 ELSE 0 END)
        FROM messages WHERE sent_at >= ? AND sent_at < ? AND group_id IS NOT NULL
        GROUP BY group_id""",
    # The first overdue questions a summary names (handlers.summary.OVERDUE_LISTED), and how many.
    "overdue": """
        SELECT q.id, p.platform_user_id, p.display_name, g.title, o.name FROM questions q
        JOIN persons p ON p.id = q.asker_id
        LEFT JOIN groups g ON g.id = q.group_id
        LEFT JOIN officials o ON o.id = q.assignee_id
        WHERE q.state IN ('open', 'transferred', 'reopened') AND q.due_at < ?
        ORDER BY q.due_at, q.id LIMIT ?""",
    "overdue_total": """
        SELECT count(*) FROM questions
        WHERE state IN ('open', 'transferred', 'reopened') AND due_at < ?""",
    "suggestions": """
        SELECT g.title, p.display_name, m.text FROM messages m
        JOIN groups g ON g.id = m.group_id JOIN persons p ON p.id = m.person_id
        WHERE m.sent_at >= ? AND m.sent_at < ? AND m.intent = 'suggestion'
          AND m.intent_confident AND NOT m.from_official
        ORDER BY m.sent_at DESC LIMIT 20""",
    "roster": "SELECT id, name, role, department FROM officials WHERE active ORDER BY id",
    "titles": "SELECT id, title, platform_chat_id FROM groups",
}
FLOOR_PHRASES = """
    SELECT p.phrase, count(*) FROM question_phrases p JOIN questions q ON q.id = p.question_id
    WHERE q.created_at >= ? AND q.created_at < ? GROUP BY p.phrase HAVING count(*) >= ?"""
"""The hot-topic phrases at least the support of the period's questions mention (``phrase_support``)."""


def _chunks(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i : i + CHUNK] for i in range(0, len(rows), CHUNK)]


def bulk_insert(connection: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert the rows of ``table`` (a model): on PostgreSQL by COPY (10,000,000 messages load in
    minutes, not an hour), elsewhere by multi-row INSERTs. Either way the messages' rollup trigger
    counts them (once per statement on PostgreSQL, COPY included)."""
    if not rows:
        return
    if connection.dialect.name != "postgresql":
        for part in _chunks(rows):
            connection.execute(insert(table), part)
        return
    columns = list(rows[0])
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    name = table.__tablename__
    with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def load(engine: Engine, messages: int, budget: float) -> tuple[int, int, float]:
    """Bulk-load synthetic rows; stop at ``messages`` messages or after ``budget`` seconds.
    Returns (messages, questions, seconds)."""
    rnd = random.Random(1)
    start = time.perf_counter()
    with engine.begin() as c:
        c.execute(
            insert(Official),
            [
                {
                    "name": f"干部{i}",
                    "department": DEPARTMENTS[i % len(DEPARTMENTS)],
                    "role": "supervisor" if i % 20 == 0 else "official",
                    "jurisdiction": "",
                    "active": i % 25 != 7,
                    "created_at": NOW - timedelta(days=HISTORY_DAYS),
                }
                for i in range(OFFICIALS)
            ],
        )
        c.execute(
            insert(Group),
            [
                {
                    "platform": "bench",
                    "platform_chat_id": f"g{i}",
                    "title": f"小区{i}群",
                    "created_at": NOW - timedelta(days=HISTORY_DAYS),
                }
                for i in range(GROUPS)
            ],
        )
        c.execute(
            insert(Person),
            [
                {
                    "platform": "bench",
                    "platform_user_id": f"u{i}",
                    "display_name": f"居民{i}",
                    "official_id": None,
                    "first_seen_at": NOW - timedelta(days=HISTORY_DAYS),
                }
                for i in range(RESIDENTS)
            ],
        )
    span = HISTORY_DAYS * 86400
    loaded = questions = 0
    while loaded < messages and time.perf_counter() - start < budget:
        batch = min(CHUNK * 5, messages - loaded)
        message_rows, question_rows, engagement_rows = [], [], []
        for i in range(loaded, loaded + batch):
            sent_at = NOW - timedelta(seconds=rnd.randrange(span))
            group = rnd.randrange(GROUPS)
            intent = rnd.choice(INTENTS)
            message_rows.append(
                {
                    "platform": "bench",
                    "chat_id": f"g{group}",
                    "platform_message_id": str(i),
                    "group_id": group + 1,
                    "person_id": rnd.randrange(RESIDENTS) + 1,
                    "text": f"第{i}条消息 小区停水 物业 电梯",
                    "intent": intent,
                    "intent_confidence": 0.8,
                    "intent_confident": rnd.random() < 0.8,
                    "department": "",
                    "reply_to_platform_message_id": None,
                    "from_official": rnd.random() < 0.05,
                    "sent_at": sent_at,
                    "edited_at": None,
                    "needs_attention": False,
                }
            )
            if i % 50 == 0:
                answered = rnd.random() < 0.7
                first = sent_at + timedelta(minutes=rnd.randrange(1, 3000)) if answered else None
                question_rows.append(
                    {
                        "platform": "bench",
                        "chat_id": f"g{group}",
                        "platform_message_id": str(i),
                        "message_id": None,
                        "group_id": group + 1,
                        "asker_id": rnd.randrange(RESIDENTS) + 1,
                        "text": f"{rnd.randrange(1, BUILDINGS + 1)}号楼{rnd.choice(PROBLEMS)}，"
                        f"什么时候解决？（第{i}条）",
                        "department": rnd.choice(DEPARTMENTS),
                        "department_confident": True,
                        "assignee_id": rnd.randrange(OFFICIALS) + 1,
                        "state": rnd.choice(STATES),
                        "created_at": sent_at,
                        "due_at": sent_at + timedelta(hours=24),
                        "first_response_at": first,
                        "answered_at": first,
                        "answered_by_id": None,
                        "resolved_at": None,
                        "ack_platform_message_id": f"a{i}",
                        "answer_platform_message_id": None,
                        "answer_text": None,
                        "overdue_notified_at": None,
                    }
                )
            if i % 20 == 0:
                engagement_rows.append(
                    {
                        "official_id": rnd.randrange(OFFICIALS) + 1,
                        "kind": rnd.choice(EngagementKind.ALL),
                        "at": sent_at,
                        "group_id": group + 1 if rnd.random() < 0.8 else None,
                        "question_id": None,
                        "message_id": None,
                        "response_seconds": None,
                        "template_id": None,
                        "detail": "",
                    }
                )
        with engine.begin() as c:
            bulk_insert(c, Message, message_rows)
            first_id = c.execute(
                sqlalchemy.text("SELECT coalesce(max(id), 0) FROM questions")
            ).scalar_one()
            c.execute(insert(Question), question_rows)
            # What the ask handler stores with each question (ids follow on: one loader, no gaps).
            phrase_rows = [
                {"question_id": first_id + 1 + j, "phrase": phrase}
                for j, q in enumerate(question_rows)
                for phrase in question_phrases(str(q["text"]))
            ]
            bulk_insert(c, QuestionPhrase, phrase_rows)
            rating_rows = [
                {
                    "question_id": first_id + 1 + j,
                    "person_id": q["asker_id"],
                    "score": rnd.choice(RATING_SCORES),
                    "at": q["created_at"],
                }
                for j, q in enumerate(question_rows)
                for _ in range(rnd.choice((0, 0, 1, 2)))
            ]
            if rating_rows:
                c.execute(insert(Rating), rating_rows)
            c.execute(insert(Engagement), engagement_rows)
        loaded += batch
        questions += len(question_rows)
    return loaded, questions, time.perf_counter() - start


def analyze(engine: Engine) -> None:
    """Planner statistics after the bulk load: on SQLite the sampled ANALYZE every start runs, on
    PostgreSQL a VACUUM ANALYZE (what autovacuum does after a bulk load)."""
    if engine.dialect.name == "sqlite":
        upgrade(engine)
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")


def floor(
    engine: Engine, since: datetime, until: datetime, now: datetime, phrases: bool = False
) -> dict[str, Any]:
    """The summary's figures from hand-written SQL on the bare DB-API cursor; with ``phrases``, also
    the hot-topic phrases counted (the support from the questions the first query counted)."""

    def param(dt: datetime) -> Any:
        if engine.dialect.name == "sqlite":
            return dt.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
        return dt

    window = (param(since), param(until))
    args = {
        "questions": (param(now), *window),
        "overdue": (param(now), OVERDUE_LISTED),
        "overdue_total": (param(now),),
        "roster": (),
        "titles": (),
    }
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        found = {}

        def run(name: str, sql: str, values: tuple[Any, ...]) -> None:
            if engine.dialect.name != "sqlite":
                sql = sql.replace("?", "%s")
            cursor.execute(sql, values)
            found[name] = cursor.fetchall()

        for name, sql in FLOOR_SQL.items():
            run(name, sql, args.get(name, window))
        if phrases:
            support = phrase_support(sum(row[3] for row in found["questions"]))
            run("phrases", FLOOR_PHRASES, (*window, support))
        raw.commit()
        return found
    finally:
        raw.close()


def texts_way(engine: Engine, since: datetime, until: datetime) -> list[tuple[str, int]]:
    """The hot topics as they were found before the phrases were stored: every question text of the
    period read, masked and cut (``hot_phrases``)."""
    with engine.connect() as c:
        texts = c.execute(
            sqlalchemy.select(Question.text)
            .where(Question.created_at >= since, Question.created_at < until)
            .order_by(Question.id)
        ).scalars()
        return hot_phrases([mask(t) for t in texts])


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times, result


def same_figures(summary: Summary, found: dict[str, Any]) -> list[str]:
    """Where minyi's summary and the floor's rows disagree (nothing: the same figures)."""
    floor_total = [sum(row[i] for row in found["questions"]) for i in range(3, 11)]
    total = summary.total
    minyi_total = [
        total.questions, total.answered, total.answered_on_time, total.resolved, total.overdue,
        total.satisfied, total.basically_satisfied, total.unsatisfied,
    ]  # fmt: skip
    by_group = {str(g): n for g, n, _, _ in found["messages"]}
    checks = {
        "question figures": (minyi_total, floor_total),
        "messages per group": ({t.key: t.messages for t in summary.groups if t.messages}, by_group),
        "suggestions": (total.suggestions, sum(row[2] for row in found["messages"])),
        "complaints": (total.complaints, sum(row[3] for row in found["messages"])),
        "engagements": (sum(total.engagements.values()), sum(r[3] for r in found["engagements"])),
        "overdue listed": ([q.id for q in summary.overdue], [row[0] for row in found["overdue"]]),
        "overdue in all": (summary.overdue_total, found["overdue_total"][0][0]),
        "response times": (len(total.response_seconds), len(found["response_times"])),
    }
    if "phrases" in found:
        checks["phrases counted"] = (summary.phrase_counts, dict(found["phrases"]))
    return [name for name, (mine, floor) in checks.items() if mine != floor]


def compare(
    engine: Engine,
    label: str,
    minyi: Callable[[], Summary],
    floor_of: Callable[[], Any],
    repeat: int,
) -> list[str]:
    """Time ``minyi`` beside its floor, ``repeat`` times each, interleaved (so both see the same load
    on a shared machine); print the best and median of each, minyi's statement count and whether both
    found the same figures. Returns what differs."""
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", count)
    minyi()  # warm: statement cache, pages
    event.remove(engine, "before_cursor_execute", count)
    floor_of()
    minyi_times: list[float] = []
    floor_times: list[float] = []
    found: Any = None
    mine: Summary | None = None
    for _ in range(repeat):
        t, mine = timed(minyi, 1)
        minyi_times += t
        t, found = timed(floor_of, 1)
        floor_times += t
    assert mine is not None and found is not None
    differ = same_figures(mine, found)
    print(
        f"  {label}: {mine.total.messages:,} messages, {mine.total.questions:,} questions in the "
        f"period; {mine.overdue_total:,} overdue in all; the same figures as the floor: "
        + (f"no, {', '.join(differ)} differ" if differ else "yes")
    )
    print(
        f"    minyi                 best {min(minyi_times):.3f} s  median "
        f"{statistics.median(minyi_times):.3f} s  ({statements} SQL statements)"
    )
    print(
        f"    floor raw SQL, DB-API best {min(floor_times):.3f} s  median "
        f"{statistics.median(floor_times):.3f} s  ({len(found)} SQL statements)"
    )
    ratio = statistics.median(minyi_times) / statistics.median(floor_times)
    print(f"    ratio (median)        {ratio:.2f}x")
    return differ


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="a PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument(
        "--messages", type=int, help="default: 1,000,000 on SQLite, 10,000,000 on PostgreSQL"
    )
    parser.add_argument("--load-seconds", type=float, default=float("inf"))
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the loaded store; say where")
    parser.add_argument("--loaded", help="the URL of a store an earlier --keep run loaded")
    args = parser.parse_args()

    tmp = None
    schema = None
    if args.loaded:
        url = args.loaded
    elif args.database:
        schema, url = create_schema(args.database, "bench")
    else:
        tmp = tempfile.mkdtemp(prefix="minyi-bench-summary-")
        url = f"sqlite:///{Path(tmp) / 'summary.db'}"
    engine = make_engine(url)
    wanted = args.messages or (10_000_000 if engine.dialect.name == "postgresql" else 1_000_000)
    try:
        started = time.perf_counter()
        upgrade(engine)
        if args.loaded:
            print(f"{engine.dialect.name}: the store loaded earlier ({url}); upgraded in "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        else:
            messages, questions, seconds = load(engine, wanted, args.load_seconds)
            analyze(engine)
            cut = "" if messages >= wanted else f" (what fit in {args.load_seconds:.0f} s)"
            print(f"{engine.dialect.name}: {messages:,} messages{cut}, {questions:,} questions "
                  f"over {HISTORY_DAYS} days, loaded in {seconds:.1f} s")  # fmt: skip
        print(f"  summary of the last {args.days} days, as /summary and minyi report ask for it "
              f"(the first {OVERDUE_LISTED} overdue questions named)")  # fmt: skip

        since, until = NOW - timedelta(days=args.days), NOW
        store = Store(engine)

        def figures() -> Summary:
            return store.summary(since, until, NOW, overdue_limit=OVERDUE_LISTED)

        def with_hot_topics() -> Summary:
            found = store.summary(
                since, until, NOW, overdue_limit=OVERDUE_LISTED, phrase_support=HOT_PHRASES
            )
            hot_topics(found)
            return found

        differ = compare(
            engine, "Store.summary", figures, lambda: floor(engine, since, until, NOW), args.repeat
        )
        differ += compare(
            engine,
            "/summary, hot topics",
            with_hot_topics,
            lambda: floor(engine, since, until, NOW, phrases=True),
            args.repeat,
        )
        message_phrases.cache_clear()  # loading cut the texts: each is cut afresh, as it was
        t = time.perf_counter()
        before = texts_way(engine, since, until)
        seconds = time.perf_counter() - t
        same = before == hot_topics(with_hot_topics())
        print(f"  hot topics the way before (every text read, hot_phrases): {seconds:.3f} s once; "
              f"the same list: {'yes' if same else 'no'}")  # fmt: skip
        print(f"  hot topics: {'、'.join(f'{w}({n})' for w, n in before)}")
        if not same:
            differ.append("hot topics")
        # All that /summary reads: the summary, its hot topics and the public-opinion lines
        # (warnings, 同问, unaddressed complaints, the suggestions registry).
        whole, _ = timed(lambda: read_summary(store, since, until, NOW, EVERYTHING), args.repeat)
        print(f"  all /summary reads (handlers.summary.read_summary, with the opinion lines): best "
              f"{min(whole):.3f} s  median {statistics.median(whole):.3f} s")  # fmt: skip
        if args.keep:
            print(f"  kept: --loaded '{url}'")
        if differ:
            sys.exit(f"minyi and the floor disagree: {', '.join(differ)}")
    finally:
        engine.dispose()
        if not args.keep and not args.loaded:
            if schema:
                drop_schema(args.database, schema)
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
