"""The rating rules on their own: who may rate, when, and what each score does to the question."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from handlers.rating_rules import Refusal, outcome, refusal
from storage import QuestionInfo, QuestionState

T0 = datetime(2026, 11, 16, 0, 30, tzinfo=UTC)

ANSWERED = QuestionInfo(
    id=12, platform="telegram", chat_id="g1", platform_message_id="m1", group_id=1,
    group_title="幸福里", asker_user_id="r1", asker_name="王阿姨", text="电梯坏了",
    department="住房和城乡建设局", department_confident=True, assignee_id=1, assignee_name="张伟",
    state=QuestionState.ANSWERED, created_at=T0, due_at=T0 + timedelta(hours=24),
    first_response_at=T0 + timedelta(hours=1), answered_at=T0 + timedelta(hours=1),
    ack_platform_message_id="a1", answer_platform_message_id="b1",
)  # fmt: skip


def test_the_asker_may_rate_an_answered_question():
    assert refusal(ANSWERED, "telegram", "r1") is None


@pytest.mark.parametrize(
    ("platform", "user_id"),
    [("telegram", "r2"), ("wechat", "r1")],  # someone else; the same id on another platform
)
def test_only_the_asker_may_rate(platform, user_id):
    assert refusal(ANSWERED, platform, user_id) is Refusal.NOT_THE_ASKER


def test_no_rating_before_an_answer():
    waiting = replace(ANSWERED, state=QuestionState.OPEN, first_response_at=None, answered_at=None)
    assert refusal(waiting, "telegram", "r1") is Refusal.NOT_ANSWERED
    # A stranger is told they are not the asker, not whether the question has an answer yet.
    assert refusal(waiting, "telegram", "r2") is Refusal.NOT_THE_ASKER


def test_rating_again_is_allowed():
    # A new rating replaces the effect of the old one: a resolved or reopened question was answered.
    for state in (QuestionState.RESOLVED, QuestionState.REOPENED):
        assert refusal(replace(ANSWERED, state=state), "telegram", "r1") is None


def test_unsatisfied_reopens_and_the_others_resolve():
    assert outcome("unsatisfied") == (QuestionState.REOPENED, "不满意")
    assert outcome("satisfied") == (QuestionState.RESOLVED, "satisfied")
    assert outcome("basically_satisfied") == (QuestionState.RESOLVED, "basically_satisfied")
