"""The hourly message rollup gives the summary the same figures as counting the messages themselves.

Messages stored before migration 0010 (filled into the rollup by the migration), messages stored after
it through the store one by one and in one multi-row INSERT (kept by the trigger), a message stored twice,
messages in direct chats, at the turn of an hour and inside one hour; then corrections — reopened and
re-rated tickets. Every period (ragged, hour-aligned, shorter than an hour, the whole history) and every
kind of scope gives the same summary from the rollup as from the raw rows, on both engines.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session

from storage import Jurisdiction, Store, make_engine, upgrade
from storage.models import Group, GroupAssignment, Message, MessageHour, Official, Question, Rating
from storage.records import QuestionState
from storage.reports import EVERYTHING, ReportScope
from test_summary import NOW, SINCE, T0, UNTIL, as_table, populate

INTENTS = ("question", "suggestion", "complaint", "chatter")


def raw_hours(session: Session) -> Counter[tuple[datetime, int, str]]:
    """What the rollup should hold, counted from every message in Python."""
    found: Counter[tuple[datetime, int, str]] = Counter()
    for m in session.scalars(select(Message).where(Message.group_id.is_not(None))):
        hour = m.sent_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        assert m.group_id is not None
        found[hour, m.group_id, "messages"] += 1
        if m.intent in ("suggestion", "complaint") and m.intent_confident and not m.from_official:
            found[hour, m.group_id, m.intent + "s"] += 1
    return found


def rolled_hours(session: Session) -> Counter[tuple[datetime, int, str]]:
    found: Counter[tuple[datetime, int, str]] = Counter()
    for row in session.scalars(select(MessageHour)):
        for name in ("messages", "suggestions", "complaints"):
            found[row.hour, row.group_id, name] += getattr(row, name)
    return +found


def populated_before(db_url: str, revision: str, seed: int) -> Engine:
    """A store whose fixture rows (``populate``) were stored at ``revision``, then migrated to the
    latest: what a migration filled in from rows stored before it."""
    engine = make_engine(db_url)
    upgrade(engine, revision)
    with Session(engine) as session, session.begin():
        populate(session, seed=seed)
    upgrade(engine)
    return engine


@pytest.fixture
def engine(db_url):
    engine = populated_before(db_url, "0008", seed=11)  # the messages before the rollup existed
    yield engine
    engine.dispose()


def add_later_messages(engine, store: Store) -> None:
    """Messages stored after the rollup was built: one by one through the store (some at the turn of
    an hour, one stored twice, some in direct chats) and many in one INSERT statement."""
    rnd = random.Random(5)
    with Session(engine) as session:
        chats = [g.platform_chat_id for g in session.scalars(select(Group))]
    turns = [T0.replace(minute=0) + timedelta(hours=h) for h in (1, 2, 30, 100)]
    times = [*turns, *(t - timedelta(microseconds=1) for t in turns)]
    times += [T0 + timedelta(minutes=rnd.randrange(-2 * 24 * 60, 9 * 24 * 60)) for _ in range(120)]
    for i, sent_at in enumerate(times):
        is_group = rnd.random() < 0.85
        for _ in range(2 if i == 3 else 1):  # the same platform message delivered twice
            store.record_message(
                platform="test",
                chat_id=rnd.choice(chats) if is_group else "dm",
                chat_title="",
                is_group=is_group,
                platform_message_id=f"later{i}",
                sender_id=f"u{rnd.randrange(6)}",
                sender_name="",
                text=f"后来的消息{i}",
                sent_at=sent_at,
                intent=rnd.choice(INTENTS),
                intent_confidence=0.6,
                intent_confident=rnd.random() < 0.7,
                from_official=rnd.random() < 0.2,
            )
    with Session(engine) as session, session.begin():
        groups = list(session.scalars(select(Group.id)))
        person = session.scalars(select(Message.person_id)).first()
        session.execute(
            insert(Message),
            [
                {
                    "platform": "test",
                    "chat_id": "bulk",
                    "platform_message_id": f"bulk{i}",
                    "group_id": rnd.choice([*groups, None]),
                    "person_id": person,
                    "text": f"批量{i}",
                    "intent": rnd.choice(INTENTS),
                    "intent_confidence": 0.6,
                    "intent_confident": rnd.random() < 0.7,
                    "from_official": rnd.random() < 0.2,
                    "sent_at": T0 + timedelta(minutes=rnd.randrange(-60, 8 * 24 * 60)),
                }
                for i in range(300)
            ],
        )


def correct_tickets(engine) -> None:
    """Tickets reopened after their answer (waiting again, with a fresh deadline) and re-rated."""
    with Session(engine) as session, session.begin():
        answered = session.scalars(
            select(Question).where(Question.answered_at.is_not(None)).order_by(Question.id)
        ).all()
        for q in answered[::4]:
            q.state = QuestionState.REOPENED
            q.due_at = NOW - timedelta(hours=1)
        for q in answered[1::4]:
            session.add(Rating(question_id=q.id, person_id=q.asker_id, score="unsatisfied", at=T0))
        session.execute(update(Question).where(Question.id == answered[2].id).values(department=""))


def scopes(engine) -> list[ReportScope]:
    """Every kind of scope, over a roster where officials serve some groups."""
    with Session(engine) as session, session.begin():
        officials = session.scalars(select(Official).order_by(Official.id)).all()
        groups = list(session.scalars(select(Group.id).order_by(Group.id)))
        session.add_all(
            [
                GroupAssignment(group_id=groups[0], official_id=officials[0].id),
                GroupAssignment(group_id=groups[2], official_id=officials[1].id),
                GroupAssignment(group_id=groups[1], official_id=officials[2].id),
            ]
        )
        supervisor = next(o for o in officials if o.role == "supervisor")
        return [
            EVERYTHING,
            ReportScope(departments=frozenset({officials[0].department})),
            ReportScope(group_ids=frozenset({groups[2]}), or_assigned_to=officials[0].id),
            ReportScope(official_id=officials[1].id),
            ReportScope.of(Jurisdiction(supervisor.id, supervisor.department)),
            ReportScope.of(Jurisdiction(officials[2].id, officials[1].department)),
        ]


PERIODS = [
    (SINCE, UNTIL),  # starts half past an hour
    (T0.replace(minute=0), T0.replace(minute=0) + timedelta(days=3)),  # whole hours only
    (T0 + timedelta(minutes=5), T0 + timedelta(minutes=50)),  # inside one hour
    (T0 + timedelta(hours=1, minutes=59), T0 + timedelta(hours=3, seconds=1)),
    (T0 - timedelta(days=3), T0 + timedelta(days=10)),  # every message
]


def assert_same_summaries(engine, store: Store) -> None:
    """Every kind of scope and period gives the same summary from the rollups as from the raw rows."""
    for scope in scopes(engine):
        for since, until in PERIODS:
            rolled = store.summary(since, until, NOW, scope)
            raw = store.summary(since, until, NOW, scope, rollup=False)
            assert as_table(rolled) == as_table(raw), (scope, since, until)
            assert rolled.suggestions == raw.suggestions


def test_the_rollup_agrees_with_the_messages_before_and_after_it_was_built(engine):
    store = Store(engine)
    with Session(engine) as session:
        assert rolled_hours(session) == raw_hours(session)  # what the migration filled
    add_later_messages(engine, store)
    correct_tickets(engine)
    with Session(engine) as session:
        assert rolled_hours(session) == raw_hours(session)  # what the trigger added
    assert_same_summaries(engine, store)
    everything = store.summary(*PERIODS[-1], NOW)
    with Session(engine) as session:
        stored = session.scalar(
            select(func.count()).select_from(Message).where(Message.group_id.is_not(None))
        )
    assert everything.total.messages == stored and everything.total.suggestions > 0
