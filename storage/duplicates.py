"""同问 — one problem, one ticket: a question linked to an open ticket on the same topic, of its own
group or of a group near it (which groups are near is the caller's to say).

A linked question keeps its own row (its asker may rate its own answer) with ``duplicate_of_id``
naming the ticket it joins; the ticket's answer reaches every linked asker (handlers/same_question.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select

from storage import rows
from storage.base import StoreBase, core
from storage.driver import DriverStatement
from storage.models import Message, Question
from storage.records import QuestionInfo
from storage.reports import EVERYTHING, ReportScope

_LINKED_COUNT = (
    select(func.count())
    .select_from(Question)
    .where(Question.duplicate_of_id == bindparam("ticket_id"))
)


class DuplicateStore(StoreBase):
    """Links between questions that ask the same thing."""

    def open_ticket_on_topic(
        self, chats: Sequence[tuple[str, str]], topic_key: str, since: datetime
    ) -> QuestionInfo | None:
        """The ticket still waiting for an answer, asked at or after ``since`` in one of ``chats``
        (``(platform, chat_id)``, the asker's own first), whose message has topic ``topic_key`` and
        which is not itself linked to another: the first chat's oldest, else the next chat's."""
        if not chats:
            return None
        with self._tx() as session:
            values: dict[str, Any] = {"topic_key": topic_key, "since": since}
            for n, (platform, chat_id) in enumerate(chats):
                values[f"platform_{n}"], values[f"chat_{n}"] = platform, chat_id
            found = _on_topic(len(chats)).first(core(session), values)
            return QuestionInfo(*found) if found else None

    def link_question(self, question_id: int, ticket_id: int) -> QuestionInfo:
        """Link ``question_id`` to ``ticket_id`` (or to the ticket that one is linked to); the
        questions linked to ``question_id`` follow it. Returns the ticket. Linking a question to
        itself changes nothing."""
        with self._tx() as session:
            question = rows.existing_question(session, question_id)
            ticket = rows.existing_question(session, ticket_id)
            if ticket.duplicate_of_id is not None:
                ticket = rows.existing_question(session, ticket.duplicate_of_id)
            if ticket.id != question.id:
                for follower in session.scalars(
                    select(Question).where(Question.duplicate_of_id == question.id)
                ):
                    follower.duplicate_of_id = ticket.id
                question.duplicate_of_id = ticket.id
            session.flush()
            return rows.question_info(session, ticket)

    def unlink_question(self, question_id: int) -> int | None:
        """Make ``question_id`` a ticket of its own again; returns the ticket it was linked to."""
        with self._tx() as session:
            question = rows.existing_question(session, question_id)
            was = question.duplicate_of_id
            question.duplicate_of_id = None
            return was

    def linked_to(self, question_id: int) -> int | None:
        """The ticket ``question_id`` is linked to, if any."""
        with self._tx() as session:
            return session.scalar(
                select(Question.duplicate_of_id).where(Question.id == question_id)
            )

    def linked_questions(self, ticket_id: int) -> list[QuestionInfo]:
        """The questions linked to ``ticket_id``, oldest first."""
        with self._tx() as session:
            found = session.scalars(
                select(Question).where(Question.duplicate_of_id == ticket_id).order_by(Question.id)
            ).all()
            return [rows.question_info(session, q) for q in found]

    def linked_count(self, ticket_id: int) -> int:
        """How many questions are linked to ``ticket_id``: one count over the index, however many
        residents asked (a storm's ticket gathers hundreds, and every new asker is told the number)."""
        with self._tx() as session:
            return int(core(session).scalar(_LINKED_COUNT, {"ticket_id": ticket_id}) or 0)

    def same_question_count(
        self, since: datetime, until: datetime, scope: ReportScope = EVERYTHING
    ) -> int:
        """Questions asked in [since, until] (within ``scope``) that were linked to a ticket asked
        before them (同问)."""
        with self._tx() as session:
            found = session.scalar(
                select(func.count())
                .select_from(Question)
                .where(
                    Question.duplicate_of_id.is_not(None),
                    Question.created_at >= since,
                    Question.created_at <= until,
                    scope.questions(),
                )
            )
            return int(found or 0)


@cache
def _on_topic(chats: int) -> DriverStatement:
    """``open_ticket_on_topic``'s statement for that many chats (``platform_N``, ``chat_N`` bound,
    the asker's own first), built once per count: every question asks it, and building it cost more
    than running it. Rows are ``QuestionInfo`` fields (``rows.question_listing``)."""
    chat = [
        and_(
            Question.platform == bindparam(f"platform_{n}"),
            Question.chat_id == bindparam(f"chat_{n}"),
        )
        for n in range(chats)
    ]
    return DriverStatement(
        rows.question_listing()
        .join(Message, Message.id == Question.message_id)
        .where(
            or_(*chat),
            rows.waiting(Question.state),
            Question.duplicate_of_id.is_(None),
            Question.created_at >= bindparam("since"),
            Message.topic_key == bindparam("topic_key"),
        )
        .order_by(case(*[(c, n) for n, c in enumerate(chat)], else_=chats), Question.id)
        .limit(1)
    )
