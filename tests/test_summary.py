"""The supervisor summary's aggregate queries give the same figures as counting every row in Python.

A random but seeded fixture (questions in every state, answered on time or late, rated several times,
engagements and messages inside and outside the period, an inactive official, a question with no group)
is summarised by the store and by a brute-force count over all rows, on both engines.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from handlers.summary import OVERDUE_LISTED, chat_summary, format_summary
from storage import Store, make_engine, upgrade
from storage.models import Engagement, Group, Message, Official, Person, Question, Rating
from storage.records import RATING_SCORES, EngagementKind, QuestionState, Summary, Tally
from storage.reports import EVERYTHING, ReportScope

T0 = datetime(2026, 11, 16, 0, 30, tzinfo=UTC)
SINCE, UNTIL, NOW = T0, T0 + timedelta(days=7), T0 + timedelta(days=8)
DEPARTMENTS = ("住房和城乡建设局", "交通运输局", "")
INTENTS = ("question", "suggestion", "complaint", "chatter")


def populate(session: Session, seed: int = 7) -> None:
    """Officials, groups, people and a few hundred rows of each kind around the period."""
    rnd = random.Random(seed)
    officials = [
        Official(name=n, department=d, role=r, active=a, created_at=T0)
        for n, d, r, a in (
            ("张伟", DEPARTMENTS[0], "official", True),
            ("李娜", DEPARTMENTS[1], "official", True),
            ("陈静", "", "supervisor", True),
            ("王强", DEPARTMENTS[0], "official", False),
        )
    ]
    groups = [
        Group(platform="test", platform_chat_id=f"g{i}", title=t, created_at=T0)
        for i, t in enumerate(("幸福里", "", "和平苑"))
    ]
    people = [
        Person(platform="test", platform_user_id=f"u{i}", display_name=f"居民{i}", first_seen_at=T0)
        for i in range(6)
    ]
    session.add_all([*officials, *groups, *people])
    session.flush()

    def when() -> datetime:
        return T0 + timedelta(minutes=rnd.randrange(-2 * 24 * 60, 9 * 24 * 60))

    for i in range(300):
        group = rnd.choice([*groups, None])
        sent_at = when()
        session.add(
            Message(
                platform="test",
                chat_id=group.platform_chat_id if group else "dm",
                platform_message_id=str(i),
                group_id=group.id if group else None,
                person_id=rnd.choice(people).id,
                text=f"消息{i}",
                intent=rnd.choice(INTENTS),
                intent_confidence=0.5,
                intent_confident=rnd.random() < 0.7,
                from_official=rnd.random() < 0.2,
                sent_at=sent_at,
            )
        )
    questions = []
    for i in range(150):
        created = when()
        group = rnd.choice([*groups, None])
        answered = rnd.random() < 0.6
        first = created + timedelta(minutes=rnd.randrange(1, 3000)) if answered else None
        # The final answer: sometimes later than the first (a reopened ticket answered again), and
        # sometimes by someone other than the assignee.
        final = first + timedelta(minutes=rnd.randrange(0, 2000)) if first else None
        q = Question(
            platform="test",
            chat_id=group.platform_chat_id if group else "dm",
            platform_message_id=f"q{i}",
            group_id=group.id if group else None,
            asker_id=rnd.choice(people).id,
            text=f"问题{i}",
            department=rnd.choice(DEPARTMENTS),
            assignee_id=rnd.choice(officials).id if rnd.random() < 0.9 else None,
            state=rnd.choice(sorted(QuestionState.ALL)),
            created_at=created,
            due_at=created + timedelta(hours=24),
            first_response_at=first,
            answered_at=final,
            answered_by_id=rnd.choice(officials).id if final and rnd.random() < 0.3 else None,
        )
        questions.append(q)
    session.add_all(questions)
    session.flush()
    for q in rnd.sample(questions, 80):
        for _ in range(rnd.randrange(1, 4)):
            session.add(
                Rating(
                    question_id=q.id, person_id=q.asker_id, score=rnd.choice(RATING_SCORES), at=T0
                )
            )
    for _ in range(200):
        group = rnd.choice([*groups, None])
        session.add(
            Engagement(
                official_id=rnd.choice(officials).id,
                kind=rnd.choice(EngagementKind.ALL),
                at=when(),
                group_id=group.id if group else None,
            )
        )


def brute_force(session: Session) -> dict[str, Tally]:
    """Every figure by reading every row and counting in Python, keyed ``section:key``."""
    names = {o.id: o.name for o in session.scalars(select(Official)) if o.active}
    titles = {g.id: g.title or g.platform_chat_id for g in session.scalars(select(Group))}
    tallies: dict[str, Tally] = {"all": Tally(key="all", label="合计")}

    def tally(section: str, key: str, label: str) -> Tally:
        return tallies.setdefault(f"{section}:{key}", Tally(key=key, label=label))

    for o in session.scalars(select(Official)):
        if o.active and o.role != "supervisor":
            tally("official", str(o.id), o.name)
    latest: dict[int, str] = {}
    for r in session.scalars(select(Rating).order_by(Rating.id)):
        latest[r.question_id] = r.score
    for q in session.scalars(select(Question)):
        if not SINCE <= q.created_at < UNTIL:
            continue
        targets = [
            tallies["all"],
            tally(
                "official",
                str(credited) if (credited := q.answered_by_id or q.assignee_id) else "none",
                names.get(credited or -1, "未分配"),
            ),
            tally("department", q.department or "未分类", q.department or "未分类"),
        ]
        if q.group_id is not None:
            targets.append(tally("group", str(q.group_id), titles[q.group_id]))
        for t in targets:
            t.questions += 1
            if q.first_response_at is not None:
                t.answered += 1
                t.answered_on_time += (
                    q.answered_at is not None
                    and q.answered_at <= q.due_at
                    and q.state not in QuestionState.WAITING
                )
                t.response_seconds.append((q.first_response_at - q.created_at).total_seconds())
            t.resolved += q.state == QuestionState.RESOLVED
            t.overdue += q.state in QuestionState.WAITING and q.due_at < NOW
            if q.id in latest:
                t.rated += 1
                setattr(t, latest[q.id], getattr(t, latest[q.id]) + 1)
    for e in session.scalars(select(Engagement)):
        if not SINCE <= e.at < UNTIL:
            continue
        targets = [
            tallies["all"],
            tally("official", str(e.official_id), names.get(e.official_id, "?")),
        ]
        if e.group_id is not None:
            targets.append(tally("group", str(e.group_id), titles[e.group_id]))
        for t in targets:
            t.engagements[e.kind] = t.engagements.get(e.kind, 0) + 1
    for m in session.scalars(select(Message)):
        if m.group_id is None or not SINCE <= m.sent_at < UNTIL:
            continue
        counted = m.intent_confident and not m.from_official
        for t in (tallies["all"], tally("group", str(m.group_id), titles[m.group_id])):
            t.messages += 1
            t.suggestions += counted and m.intent == "suggestion"
            t.complaints += counted and m.intent == "complaint"
    return tallies


def figures(t: Tally) -> tuple[object, ...]:
    """A tally's figures, comparable whatever order its response times were collected in."""
    return (
        t.label,
        t.questions,
        t.answered,
        t.answered_on_time,
        t.resolved,
        t.overdue,
        t.rated,
        t.satisfied,
        t.basically_satisfied,
        t.unsatisfied,
        sorted(t.response_seconds),
        t.engagements,
        t.suggestions,
        t.complaints,
        t.messages,
    )


def as_table(summary: Summary) -> dict[str, tuple[object, ...]]:
    """The summary's tallies keyed like ``brute_force``'s."""
    table = {"all": figures(summary.total)}
    for section, tallies in (
        ("official", summary.officials),
        ("group", summary.groups),
        ("department", summary.departments),
    ):
        table.update({f"{section}:{t.key}": figures(t) for t in tallies})
    return table


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        populate(session)
    yield engine
    engine.dispose()


def test_summary_matches_counting_every_row(engine):
    summary = Store(engine).summary(SINCE, UNTIL, NOW)
    with Session(engine) as session:
        expected = {key: figures(t) for key, t in brute_force(session).items()}
        waiting = session.scalars(
            select(Question)
            .where(Question.state.in_(QuestionState.WAITING), Question.due_at < NOW)
            .order_by(Question.due_at, Question.id)
        ).all()
        overdue = [(q.id, q.asker_id, q.group_id, q.assignee_id, q.text) for q in waiting]
    assert as_table(summary) == expected
    assert summary.total.questions > 20 and summary.total.rated > 5 and summary.total.messages > 50
    assert [(q.id, q.group_id, q.assignee_id, q.text) for q in summary.overdue] == [
        (i, g, a, text) for i, _, g, a, text in overdue
    ]
    assert summary.phrase_counts is None  # not asked for: no hot topics read
    with Session(engine) as session:
        for q in summary.overdue:
            row = session.get_one(Question, q.id)
            asker = session.get_one(Person, row.asker_id)
            assert (q.asker_user_id, q.asker_name) == (asker.platform_user_id, asker.display_name)
            group = session.get(Group, row.group_id) if row.group_id else None
            assert q.group_title == (group.title if group else "")
            assignee = session.get(Official, row.assignee_id) if row.assignee_id else None
            assert q.assignee_name == (assignee.name if assignee else "")


def test_a_summary_names_the_first_overdue_questions_and_says_how_many(engine):
    summary = Store(engine).summary(SINCE, UNTIL, NOW, overdue_limit=OVERDUE_LISTED)
    with Session(engine) as session:
        overdue = session.scalars(
            select(Question.id)
            .where(Question.state.in_(QuestionState.WAITING), Question.due_at < NOW)
            .order_by(Question.due_at, Question.id)
        ).all()
    assert len(overdue) > OVERDUE_LISTED
    chat = chat_summary(summary, "7天", [])
    line = next(line for line in chat.splitlines() if line.startswith("超时未答复："))
    assert (
        line
        == f"超时未答复：{'、'.join(f'Q{i}' for i in overdue[:OVERDUE_LISTED])} 等共 {len(overdue)} 个"
    )
    table = format_summary(summary, "table", ZoneInfo("Asia/Shanghai"), [])
    assert f"等共 {len(overdue)} 个" in table and f"Q{overdue[OVERDUE_LISTED]}（" not in table


@pytest.mark.parametrize("limit", [1, 3, 7])
def test_the_first_overdue_questions_are_the_soonest_due_whatever_their_state(engine, limit):
    """Tickets of every waiting state due at the same moment, the limit cutting through them: the
    first named are the soonest due, the lower number first on a tie, in every scope."""
    with Session(engine) as session, session.begin():
        waiting = session.scalars(
            select(Question).where(Question.state.in_(QuestionState.WAITING)).order_by(Question.id)
        ).all()
        assert {q.state for q in waiting[:12]} == QuestionState.WAITING
        for q in waiting[:12]:
            q.due_at = NOW - timedelta(days=30)
        group_id = waiting[0].group_id
    for scope in (EVERYTHING, ReportScope(group_ids=frozenset({group_id}))):
        summary = Store(engine).summary(SINCE, UNTIL, NOW, scope, overdue_limit=limit)
        with Session(engine) as session:
            overdue = session.scalars(
                select(Question.id)
                .where(Question.state.in_(QuestionState.WAITING), Question.due_at < NOW)
                .where(scope.questions())
                .order_by(Question.due_at, Question.id)
            ).all()
        assert [q.id for q in summary.overdue] == overdue[:limit]
        assert summary.overdue_total == len(overdue)
