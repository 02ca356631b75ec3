"""The summary's hot topics come from the phrases stored with each question, counted in SQL: the same
list as ``hot_phrases`` over the masked texts of the same questions, on both engines.

Residents' real messages (../shared/data) are asked as questions spread over groups, departments and
days; every scope and period gives the list ``hot_phrases`` gives for the questions it admits (found
here in Python), with at least twenty questions (a phrase needs two mentions) and fewer; the web
console's topics name the newest tickets that mention each. A supervisor's
jurisdiction counts only its questions (also tests/test_jurisdiction.py); personal data in a question
becomes no phrase; migration 0013 finds the phrases of questions stored before it.
"""

from __future__ import annotations

import csv
import importlib.util
import random
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.text.hot_topics import MIN_BATCH_FOR_REPEATS, hot_phrases, question_phrases
from bot.text.privacy import mask
from bot.web import brief
from handlers.summary import HOT_PHRASES, hot_topics
from storage import Jurisdiction, Store, make_engine, upgrade
from storage.database import MIGRATIONS
from storage.models import Group, GroupAssignment, Official, Question, QuestionPhrase
from storage.reports import EVERYTHING, ReportScope
from test_masking import QUESTION, RAW, question_and_suggestion
from test_summary import DEPARTMENTS, NOW, SINCE, T0, UNTIL, populate

K = 12
CONTACT = "有事请打13912345678或发邮件 lisi.wang@example.com，"


def residents_texts(data_dir: Path, n: int, seed: int) -> list[str]:
    """``n`` residents' messages of the public sets: citizens' messages (msgabench) and the subjects of
    messages to a government board (taidi2020), a few with a phone number and an e-mail address."""
    with (data_dir / "msgabench" / "intent.csv").open(encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    with (data_dir / "taidi2020" / "messages_with_votes.csv").open(encoding="utf-8") as f:
        texts += [row["留言主题"] for row in csv.DictReader(f)]
    rnd = random.Random(seed)
    # Many from few: a subject drawn twice or more is what makes a phrase hot.
    pool = rnd.sample(texts, n // 3)
    chosen = [rnd.choice(pool) if rnd.random() < 0.5 else rnd.choice(texts) for _ in range(n)]
    return [CONTACT + t if i % 9 == 0 else t for i, t in enumerate(chosen)]


def ask_all(store: Store, texts: list[str], seed: int) -> None:
    """Open a question for each text through the store, as the ask handler does, in three groups and
    three departments, on days around the period (the fixture's officials assigned)."""
    rnd = random.Random(seed)
    for i, text in enumerate(texts):
        at = T0 + timedelta(minutes=rnd.randrange(-2 * 24 * 60, 9 * 24 * 60))
        store.open_question(
            platform="test",
            chat_id=f"g{rnd.randrange(3)}",
            chat_title="",
            is_group=True,
            platform_message_id=f"ask{i}",
            asker_id=f"u{rnd.randrange(6)}",
            asker_name="",
            text=text,
            department=rnd.choice(DEPARTMENTS),
            department_confident=True,
            created_at=at,
            due_at=at + timedelta(hours=24),
            assignee_id=rnd.choice([None, 1, 2]),
            phrases=question_phrases(text),
        )


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        populate(session)  # officials, groups g0..g2, residents u0..u5 (and questions of no topic)
        supervisor = session.scalars(select(Official.id).where(Official.role == "supervisor")).one()
        g1 = session.scalars(select(Group.id).where(Group.platform_chat_id == "g1")).one()
        session.add(GroupAssignment(official_id=supervisor, group_id=g1))
    yield engine
    engine.dispose()


def admitted(engine, since, until, admits) -> list[tuple[int, str]]:
    """(number, text) of the questions asked in the period that ``admits`` (a test on the row, in
    Python), oldest first."""
    with Session(engine) as session:
        return [
            (q.id, q.text)
            for q in session.scalars(select(Question).order_by(Question.id))
            if since <= q.created_at < until and admits(session, q)
        ]


def expected(engine, since, until, admits, k: int = K) -> list[tuple[str, int]]:
    """``hot_phrases`` over the masked texts of the questions asked in the period that ``admits``,
    as the summary's hot topics were found before they were stored."""
    return hot_phrases([mask(text) for _, text in admitted(engine, since, until, admits)], k)


def expected_brief(engine, since, until, admits) -> list[brief.HotTopic]:
    """The web console's hot topics: the same ranking, each with the newest tickets mentioning it."""
    questions = admitted(engine, since, until, admits)[::-1]
    return [
        brief.HotTopic(
            word,
            n,
            [f"Q{i}" for i, text in questions if word in question_phrases(text)][
                : brief.TICKETS_PER_TOPIC
            ],
        )
        for word, n in expected(engine, since, until, admits, brief.TOPICS)
    ]


def test_hot_topics_from_the_store_are_hot_phrases_of_the_texts(engine, data_dir):
    store = Store(engine)
    ask_all(store, residents_texts(data_dir, 240, seed=1), seed=2)
    with Session(engine) as session:
        g1 = session.scalars(select(Group.id).where(Group.platform_chat_id == "g1")).one()
        supervisor = session.scalars(select(Official).where(Official.role == "supervisor")).one()
        overseen = set(
            session.scalars(
                select(GroupAssignment.group_id).where(GroupAssignment.official_id == supervisor.id)
            )
        )
    housing = DEPARTMENTS[0]
    scopes = {
        "everything": (EVERYTHING, lambda s, q: True),
        "one group": (ReportScope(group_ids=frozenset({g1})), lambda s, q: q.group_id == g1),
        "a department": (
            ReportScope(departments=frozenset({housing})),
            lambda s, q: q.department == housing,
        ),
        "a jurisdiction": (
            ReportScope.of(Jurisdiction(supervisor.id, housing)),
            lambda s, q: q.group_id in overseen or q.department == housing,
        ),
    }
    periods = [(SINCE, UNTIL), (SINCE, SINCE + timedelta(hours=20))]
    sizes = set()
    for since, until in periods:
        for name, (scope, admits) in scopes.items():
            summary = store.summary(since, until, NOW, scope, phrase_support=HOT_PHRASES)
            want = expected(engine, since, until, admits)
            assert hot_topics(summary, K) == want, (name, since, until)
            assert want, (name, since, until)  # a list worth comparing
            assert brief.hot_topics(store, since, until, scope) == expected_brief(
                engine, since, until, admits
            ), (name, since, until)
            sizes.add(summary.total.questions >= MIN_BATCH_FOR_REPEATS)
    assert sizes == {True, False}  # both rules of support met


def test_personal_data_in_a_question_becomes_no_phrase(engine):
    store = Store(engine)
    ask_all(store, [f"{CONTACT}3号楼电梯坏了"] * 3, seed=3)
    with Session(engine) as session:
        stored = set(session.scalars(select(QuestionPhrase.phrase)))
    assert "3号楼电梯" in stored
    for phrase in stored:
        assert not re.search(r"\d{4}", phrase) and "lisi" not in phrase and "wang" not in phrase
    summary = store.summary(T0 - timedelta(days=3), NOW, NOW, phrase_support=HOT_PHRASES)
    assert not any("lisi" in p for p, _ in hot_topics(summary, 50))


@pytest.mark.asyncio
async def test_a_question_asked_in_a_group_stores_its_masked_phrases(chat):
    await question_and_suggestion(chat)  # a question with a phone, ID, card number and e-mail
    with Session(chat.app.store.engine) as session:
        stored = set(session.scalars(select(QuestionPhrase.phrase)))
    assert stored == question_phrases(QUESTION) and "3号楼电梯" in stored
    assert not any(piece in p for p in stored for piece in ("zhang", RAW["phone"][:7]))


def load_migration():
    """Migration 0013's module, loaded from its file as Alembic loads it."""
    path = next((MIGRATIONS / "versions").glob("0013_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0013", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stored_phrases(engine) -> set[tuple[int, str]]:
    with Session(engine) as session:
        found = session.execute(select(QuestionPhrase.question_id, QuestionPhrase.phrase))
        return {(question_id, phrase) for question_id, phrase in found}


def phrases_of_texts(engine) -> set[tuple[int, str]]:
    with Session(engine) as session:
        return {
            (q, p)
            for q, text in session.execute(select(Question.id, Question.text))
            for p in question_phrases(text)
        }


def test_migration_0013_finds_the_phrases_of_questions_stored_before_it(db_url, data_dir):
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0012")
        texts = residents_texts(data_dir, 150, seed=4)
        with Session(engine) as session, session.begin():
            populate(session)  # 150 questions, their text replaced by residents' messages
            ids = session.scalars(select(Question.id).order_by(Question.id)).all()
            for question_id, text in zip(ids, texts, strict=True):
                session.execute(
                    update(Question).where(Question.id == question_id).values(text=text)
                )
        upgrade(engine)
        filled = stored_phrases(engine)
        assert filled == phrases_of_texts(engine) and len({q for q, _ in filled}) > 100
        store = Store(engine)
        summary = store.summary(SINCE, UNTIL, NOW, phrase_support=HOT_PHRASES)
        assert hot_topics(summary, K) == expected(engine, SINCE, UNTIL, lambda s, q: True) != []
        # Batch by batch: batches that end inside the questions, and a last one that is short.
        with engine.begin() as connection:
            connection.execute(delete(QuestionPhrase))
            migration = load_migration()
            migration.BATCH = 7
            migration.fill(connection)
        assert stored_phrases(engine) == filled
    finally:
        engine.dispose()
