"""The latest rating each question carries is the one its ratings say, so the summary's satisfaction
figures are the same read from the question rows as found among the ratings.

Ratings stored before migration 0012 (filled in by the migration), then after it through the store one
by one, several for one question in one multi-row INSERT, and one with a lower id than the question's
latest (it must not replace it); every kind of scope and period gives the same summary both ways, on
both engines.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from storage import Store
from storage.models import Person, Question, Rating
from storage.records import RATING_SCORES
from test_message_hours import PERIODS, assert_same_summaries, populated_before
from test_summary import NOW, T0


def raw_latest(session: Session) -> dict[int, tuple[int | None, str | None]]:
    """Each question's latest rating (the highest id) and its score, found in Python."""
    found: dict[int, tuple[int | None, str | None]] = {
        q: (None, None) for q in session.scalars(select(Question.id))
    }
    for rating in session.scalars(select(Rating).order_by(Rating.id)):
        found[rating.question_id] = (rating.id, rating.score)
    return found


def carried(session: Session) -> dict[int, tuple[int | None, str | None]]:
    """What the question rows carry."""
    rows = session.execute(select(Question.id, Question.latest_rating_id, Question.latest_score))
    return {q: (rating_id, score) for q, rating_id, score in rows}


@pytest.fixture
def engine(db_url):
    engine = populated_before(
        db_url, "0011", seed=13
    )  # ratings before questions carried the latest
    yield engine
    engine.dispose()


def rate_later(engine, store: Store) -> None:
    """Ratings stored after migration 0012: one by one through the store, and several for the same
    questions in one INSERT statement (the last of each question's rows must win)."""
    rnd = random.Random(3)
    with Session(engine) as session:
        questions = list(session.scalars(select(Question.id).order_by(Question.id)))
        person = session.scalars(select(Person.id)).first()
    for i, question_id in enumerate(questions[::3]):
        store.record_rating(
            question_id,
            platform="test",
            user_id=f"u{i % 6}",
            score=rnd.choice(RATING_SCORES),
            at=T0 + timedelta(hours=i),
        )
    with Session(engine) as session, session.begin():
        session.execute(
            insert(Rating),
            [
                {"question_id": q, "person_id": person, "score": score, "at": T0}
                for q in questions[1::5]
                for score in rnd.sample(RATING_SCORES, 3)
            ],
        )


def test_questions_carry_their_latest_rating_before_and_after_the_migration(engine):
    store = Store(engine)
    with Session(engine) as session:
        before = carried(session)
        assert before == raw_latest(session)  # what the migration filled
        assert sum(score is not None for _, score in before.values()) > 10
    rate_later(engine, store)
    with Session(engine) as session:
        assert carried(session) == raw_latest(session)  # what the trigger kept
    assert_same_summaries(engine, store)
    everything = store.summary(*PERIODS[-1], NOW)
    with Session(engine) as session:
        rated = sum(score is not None for _, score in raw_latest(session).values())
    assert everything.total.rated == rated


def test_an_older_rating_stored_late_does_not_replace_the_latest(engine):
    with Session(engine) as session, session.begin():
        question_id = session.scalars(select(Question.id)).first()
        person = session.scalars(select(Person.id)).first()
        top = max(session.scalars(select(Rating.id)))
        # The later rating (higher id) stored first, the older one after it.
        for rating_id, score in ((top + 100, RATING_SCORES[0]), (top + 50, RATING_SCORES[1])):
            session.add(
                Rating(id=rating_id, question_id=question_id, person_id=person, score=score, at=T0)
            )
            session.flush()
    with Session(engine) as session:
        assert carried(session)[question_id] == (top + 100, RATING_SCORES[0])
        assert carried(session) == raw_latest(session)
