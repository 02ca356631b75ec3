"""The tickets: residents' questions and every change of their state — opening, answering, rating,
transferring, closing — with the answers, ratings and overdue reminders that go with them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, func, insert, select, true, update
from sqlalchemy.orm import Session

from storage import rows
from storage.base import StoreBase, StoreError, StoreErrorCode, core
from storage.driver import DriverStatement
from storage.models import (
    Department,
    Engagement,
    Group,
    GroupAssignment,
    Message,
    Official,
    Person,
    Question,
    QuestionPhrase,
    QuestionTransition,
    Rating,
)
from storage.records import (
    RATING_SCORES,
    AnswerResult,
    AssignmentCandidate,
    EngagementKind,
    QuestionInfo,
    QuestionState,
)

_QUESTIONS = cast(Table, Question.__table__)
_OFFICIALS = cast(Table, Official.__table__)
_GROUPS = cast(Table, Group.__table__)
_ASSIGNMENTS = cast(Table, GroupAssignment.__table__)
_MESSAGES = cast(Table, Message.__table__)
# A question's statements, on the driver's cursor (``storage.driver``): a question runs some thirty.
_OPENED = (
    "platform", "chat_id", "platform_message_id", "message_id", "group_id", "asker_id", "text",
    "department", "department_confident", "assignee_id", "state", "created_at", "due_at",
    "remind_at", "second_level_at", "limit_label", "extension_reason", "duplicate_of_id",
)  # fmt: skip
"""The columns ``open_question`` gives."""
_OPEN_QUESTION = DriverStatement(insert(_QUESTIONS).returning(_QUESTIONS.c.id), _OPENED)
_OPEN_TRANSITION = DriverStatement(
    insert(cast(Table, QuestionTransition.__table__)),
    ("question_id", "from_state", "to_state", "at", "actor_person_id", "note"),
)
_ADD_PHRASES = insert(cast(Table, QuestionPhrase.__table__))
_MESSAGE_ID = DriverStatement(
    select(_MESSAGES.c.id).where(
        _MESSAGES.c.platform == bindparam("platform"),
        _MESSAGES.c.chat_id == bindparam("chat_id"),
        _MESSAGES.c.platform_message_id == bindparam("platform_message_id"),
    )
)
_OFFICIAL_NAME = DriverStatement(
    select(_OFFICIALS.c.name).where(_OFFICIALS.c.id == bindparam("official_id"))
)
_ATTACH_ACK = DriverStatement(
    update(_QUESTIONS)
    .where(_QUESTIONS.c.id == bindparam("question_id"))
    .values(ack_platform_message_id=bindparam("ack"))
)
_RECORD_FIELDS = tuple(f.name for f in fields(QuestionInfo))


def _candidates_where(*conditions: Any) -> Select[Any]:
    """Active officials (id, department, role) meeting ``conditions``, in roster order, each with how
    many questions wait for them (a correlated count over ix_questions_assignee_state): one
    statement, built once."""
    waiting = (
        select(func.count())
        .where(
            _QUESTIONS.c.assignee_id == _OFFICIALS.c.id,
            rows.waiting(_QUESTIONS.c.state),
        )
        .scalar_subquery()
    )
    return (
        select(_OFFICIALS.c.id, _OFFICIALS.c.department, _OFFICIALS.c.role, waiting)
        .where(_OFFICIALS.c.active.is_(true()), *conditions)
        .order_by(_OFFICIALS.c.id)
    )


# The statements of ``assignment_candidates`` (every question asks it) and ``department_members``.
_GROUP_CANDIDATES = _candidates_where(
    _OFFICIALS.c.id.in_(
        select(_ASSIGNMENTS.c.official_id)
        .join(_GROUPS, _GROUPS.c.id == _ASSIGNMENTS.c.group_id)
        .where(
            _GROUPS.c.platform == bindparam("platform"),
            _GROUPS.c.platform_chat_id == bindparam("chat_id"),
        )
    )
)
_DEPARTMENT_CANDIDATES = _candidates_where(_OFFICIALS.c.department == bindparam("department"))


class TicketStore(StoreBase):
    """Questions, their transitions, answers, ratings and transfers."""

    @staticmethod
    def _actor(session: Session, official_id: int) -> int | None:
        """The official's first platform identity, recorded as who made a transition."""
        return session.scalar(
            select(Person.id).where(Person.official_id == official_id).order_by(Person.id)
        )

    @staticmethod
    def _transition(
        session: Session,
        q: Question,
        to_state: str,
        at: datetime,
        actor: int | None,
        note: str = "",
    ) -> None:
        session.add(
            QuestionTransition(
                question_id=q.id, from_state=q.state, to_state=to_state, at=at,
                actor_person_id=actor, note=note,
            )
        )  # fmt: skip
        q.state = to_state

    # ---------------------------------------------------------------- facts for assignment
    # Who gets a question is decided by the caller (handlers/assignment.py); the store says who could.

    def assignment_candidates(self, platform: str, chat_id: str) -> list[AssignmentCandidate]:
        """The active officials assigned to the group ``platform:chat_id``, in roster order."""
        with self._tx() as session:
            found = core(session).execute(
                _GROUP_CANDIDATES, {"platform": platform, "chat_id": chat_id}
            )
            return [AssignmentCandidate(*row) for row in found]

    def department_members(self, department: str) -> list[AssignmentCandidate]:
        """The active officials of ``department``, in roster order."""
        with self._tx() as session:
            found = core(session).execute(_DEPARTMENT_CANDIDATES, {"department": department})
            return [AssignmentCandidate(*row) for row in found]

    # ---------------------------------------------------------------- questions

    def open_question(
        self,
        *,
        platform: str,
        chat_id: str,
        chat_title: str,
        is_group: bool,
        platform_message_id: str,
        asker_id: str,
        asker_name: str,
        text: str,
        department: str,
        department_confident: bool,
        created_at: datetime,
        due_at: datetime,
        assignee_id: int | None,
        phrases: Collection[str],
        remind_at: datetime | None = None,
        second_level_at: datetime | None = None,
        limit_label: str = "",
        assignee_name: str | None = None,
        duplicate_of_id: int | None = None,
        message_row_id: int | None = None,
    ) -> QuestionInfo:
        """Open a ticket for a resident's message, assigned to ``assignee_id`` (None: no one yet),
        due at ``due_at``; ``remind_at``, ``second_level_at`` and ``limit_label`` as
        ``plan_deadline`` sets them (a ticket opened with its 督办 stages planned); with the
        candidate hot-topic ``phrases`` of its text (``bot.text.hot_topics.question_phrases``), which
        the summary counts. ``assignee_name``: the assignee's name when the caller has it already
        (else it is looked up). ``duplicate_of_id``: the ticket this question joins (同问), one linked
        to none (as ``open_ticket_on_topic`` finds it), set in the INSERT itself.
        ``message_row_id``: the stored message's id when the caller knows it (the unit stored the
        message a moment ago), else it is looked up."""
        with self._tx() as session:
            # Ids and names this process knows already (``storage.known_rows``): the message's unit
            # recorded the asker and the group a moment ago.
            asker, asker_name = rows.person_ref(session, platform, asker_id, asker_name, created_at)
            group_id, group_title = (
                rows.group_ref(session, platform, chat_id, chat_title, created_at)
                if is_group
                else (None, "")
            )
            connection = core(session)
            message_id = message_row_id or _MESSAGE_ID.scalar(
                connection,
                {"platform": platform, "chat_id": chat_id,
                 "platform_message_id": platform_message_id},
            )  # fmt: skip
            values: dict[str, Any] = {
                "platform": platform, "chat_id": chat_id,
                "platform_message_id": platform_message_id, "message_id": message_id,
                "group_id": group_id, "asker_id": asker, "text": text, "department": department,
                "department_confident": department_confident, "assignee_id": assignee_id,
                "state": QuestionState.OPEN, "created_at": created_at, "due_at": due_at,
                "remind_at": remind_at, "second_level_at": second_level_at,
                "limit_label": limit_label, "extension_reason": "",
                "duplicate_of_id": duplicate_of_id,
            }  # fmt: skip
            # Core INSERTs built once: the ORM's flush of a new question cost several times the SQL.
            question_id = _OPEN_QUESTION.scalar(connection, values)
            _OPEN_TRANSITION.rows(
                connection,
                {"question_id": question_id, "from_state": None, "to_state": QuestionState.OPEN,
                 "at": created_at, "actor_person_id": asker, "note": ""},
            )  # fmt: skip
            if phrases:
                connection.execute(
                    _ADD_PHRASES,
                    [{"question_id": question_id, "phrase": p} for p in sorted(phrases)],
                )
            assignee = (
                _OFFICIAL_NAME.scalar(connection, {"official_id": assignee_id})
                if assignee_id is not None and assignee_name is None
                else assignee_name
            )
            # The record of the row as inserted (what it does not set is None), with no ORM object.
            known: dict[str, Any] = {
                **values, "id": question_id, "asker_user_id": asker_id, "asker_name": asker_name,
                "group_title": group_title, "assignee_name": assignee or "",
            }  # fmt: skip
            record: dict[str, Any] = {name: known.get(name) for name in _RECORD_FIELDS}
            return QuestionInfo(**record)

    def attach_ack(self, question_id: int, platform_message_id: str) -> None:
        """Remember the bot's acknowledgement message of a question."""
        with self._tx() as session:
            # One UPDATE, not a SELECT of the row and a flush (an acknowledgement's follow-up).
            _ATTACH_ACK.rows(
                core(session), {"question_id": question_id, "ack": platform_message_id}
            )

    def question(self, question_id: int) -> QuestionInfo | None:
        """The question numbered ``question_id``."""
        with self._tx() as session:
            q = session.get(Question, question_id)
            return rows.question_info(session, q) if q else None

    def question_for_message(
        self, platform: str, chat_id: str, platform_message_id: str
    ) -> QuestionInfo | None:
        """The question whose resident message, acknowledgement or answer has this platform id."""
        with self._tx() as session:
            base = select(Question).where(
                Question.platform == platform, Question.chat_id == chat_id
            )
            for column in (
                Question.platform_message_id,
                Question.ack_platform_message_id,
                Question.answer_platform_message_id,
            ):
                q = session.scalar(
                    base.where(column == platform_message_id).order_by(Question.id.desc())
                )
                if q is not None:
                    return rows.question_info(session, q)
            return None

    def questions_of_asker(self, platform: str, user_id: str, limit: int = 5) -> list[QuestionInfo]:
        """A resident's latest questions, newest first."""
        with self._tx() as session:
            found = session.scalars(
                select(Question)
                .join(Person, Person.id == Question.asker_id)
                .where(Person.platform == platform, Person.platform_user_id == user_id)
                .order_by(Question.id.desc())
                .limit(limit)
            ).all()
            return [rows.question_info(session, q) for q in found]

    def answer_question(
        self,
        question_id: int,
        *,
        official_id: int,
        text: str,
        at: datetime,
        answer_platform_message_id: str | None,
        template_id: str | None = None,
    ) -> AnswerResult:
        """Record an official's answer: the question becomes answered, the answer an engagement."""
        with self._tx() as session:
            q = rows.existing_question(session, question_id)
            if q.state == QuestionState.CLOSED:
                raise StoreError(StoreErrorCode.QUESTION_CLOSED, question_id=question_id)
            first = q.first_response_at is None
            if first:
                q.first_response_at = at
            q.answered_at = at
            q.revisit_at = q.revisit_reminded_at = None  # the caller plans the new answer's 回访
            q.answered_by_id = official_id
            q.answer_text = text
            if answer_platform_message_id:
                q.answer_platform_message_id = answer_platform_message_id
            actor = self._actor(session, official_id)
            if q.state != QuestionState.ANSWERED:
                self._transition(session, q, QuestionState.ANSWERED, at, actor)
            seconds = max(0.0, (at - q.created_at).total_seconds())
            session.add(
                Engagement(
                    official_id=official_id,
                    kind=EngagementKind.ANSWER,
                    at=at,
                    group_id=q.group_id,
                    question_id=q.id,
                    response_seconds=seconds,
                    template_id=template_id,
                    detail=text[:2000],
                )
            )
            session.flush()
            return AnswerResult(
                question=rows.question_info(session, q),
                response_seconds=seconds,
                first_answer=first,
                on_time=at <= q.due_at,
            )

    def record_rating(
        self,
        question_id: int,
        *,
        platform: str,
        user_id: str,
        score: str,
        at: datetime,
        source: str = "resident",
    ) -> None:
        """Store the score ``platform:user_id`` gave a question's answer (``source``: ``resident``, or
        ``visit`` for the result of an official's 回访); what it does to the question is the caller's
        decision (``transition``)."""
        if score not in RATING_SCORES:
            raise StoreError(StoreErrorCode.UNKNOWN_SCORE, score=score)
        with self._tx() as session:
            q = rows.existing_question(session, question_id)
            rater = rows.person(session, platform, user_id, "", at)
            session.add(
                Rating(question_id=q.id, person_id=rater.id, score=score, at=at, source=source)
            )

    def transition(
        self,
        question_id: int,
        to_state: str,
        *,
        at: datetime,
        by: tuple[str, str] | None = None,
        note: str = "",
    ) -> QuestionInfo:
        """Move a question to ``to_state`` (a ``QuestionState``), recording who did it — ``by`` is
        their (platform, user id) — and why; entering RESOLVED also stamps when it was resolved."""
        if to_state not in QuestionState.ALL:
            raise StoreError(StoreErrorCode.UNKNOWN_STATE, state=to_state)
        with self._tx() as session:
            q = rows.existing_question(session, question_id)
            actor = rows.person(session, *by, "", at).id if by else None
            if to_state == QuestionState.RESOLVED:
                q.resolved_at = at
            self._transition(session, q, to_state, at, actor, note)
            session.flush()
            return rows.question_info(session, q)

    def transfer(
        self,
        question_id: int,
        *,
        by_official_id: int,
        department: str,
        assignee_id: int | None,
        at: datetime,
        note: str = "",
    ) -> QuestionInfo:
        """Hand a question to another department and to ``assignee_id`` (None: no one yet)."""
        with self._tx() as session:
            q = rows.existing_question(session, question_id)
            if not session.scalar(select(Department.id).where(Department.name == department)):
                raise StoreError(StoreErrorCode.UNKNOWN_DEPARTMENT, department=department)
            q.department = department
            q.department_confident = True
            q.assignee_id = assignee_id
            q.transferred_by_id, q.transferred_at = by_official_id, at  # for a 退回
            actor = self._actor(session, by_official_id)
            self._transition(session, q, QuestionState.TRANSFERRED, at, actor, note or department)
            session.add(
                Engagement(
                    official_id=by_official_id, kind=EngagementKind.TRANSFER, at=at,
                    group_id=q.group_id, question_id=q.id, detail=department,
                )
            )  # fmt: skip
            session.flush()
            return rows.question_info(session, q)

    def claim_overdue(self, now: datetime) -> list[QuestionInfo]:
        """Questions that just went past their promised time, each returned once (marked as notified).

        A reopened question that is past due again is returned again.
        """
        with self._tx() as session:
            found = session.scalars(
                select(Question)
                # Not a 同问 linked to a ticket (it follows its ticket's 督办).
                .where(rows.timer_waiting(), Question.due_at < now)
                .where(
                    (Question.overdue_notified_at.is_(None))
                    | (Question.overdue_notified_at <= Question.answered_at)
                )
                .order_by(Question.due_at)
                .with_for_update(skip_locked=True)
            ).all()
            for q in found:
                q.overdue_notified_at = now
            session.flush()
            return [rows.question_info(session, q) for q in found]
