"""The rules of rating an answer (满意 / 基本满意 / 不满意), apart from any chat or database.

Only the resident who asked may rate, and only once the question has an answer. 满意 and 基本满意
resolve the question; 不满意 reopens it. A new rating replaces the effect of the old one: rating again
is allowed, and the question moves again.
"""

from __future__ import annotations

from enum import StrEnum

from storage import QuestionInfo, QuestionState


class Refusal(StrEnum):
    """Why a rating is not accepted."""

    NOT_THE_ASKER = "not_the_asker"
    NOT_ANSWERED = "not_answered"


def refusal(question: QuestionInfo, platform: str, user_id: str) -> Refusal | None:
    """Why ``platform:user_id`` may not rate ``question`` now, or None when they may."""
    # The asker's account is on the platform the question was asked on.
    if (question.platform, question.asker_user_id) != (platform, user_id):
        return Refusal.NOT_THE_ASKER
    if question.answered_at is None:
        return Refusal.NOT_ANSWERED
    return None


def outcome(score: str) -> tuple[str, str]:
    """The state a rating moves the question to, and the note its transition carries."""
    if score == "unsatisfied":
        return QuestionState.REOPENED, "不满意"
    return QuestionState.RESOLVED, score
