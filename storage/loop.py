"""The closed loop's facts: a ticket's deadline and 督办 stages, extensions, the steps that change no
state, and a ticket's whole history. When each stage falls due is the caller's (``bot.worktime``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, func, insert, select
from sqlalchemy.orm import Session

from storage import rows
from storage.base import StoreBase, core
from storage.driver import DriverStatement
from storage.models import (
    Engagement,
    Official,
    Person,
    Question,
    QuestionTransition,
    Rating,
    TicketStep,
)
from storage.records import EngagementKind, QuestionInfo, QuestionState


class Stage:
    """督办 stages; each fires once per deadline (a new deadline starts them again)."""

    REMIND = "reminded"
    """Stage 1: the handling official, at a share of the time."""
    ESCALATE = "escalated"
    """Stage 2: the department's supervisors, at the deadline (``claim_overdue``)."""
    SECOND_LEVEL = "second_level"
    """Stage 3: the next level up, a while after the deadline."""


@dataclass(frozen=True, slots=True)
class HistoryStep:
    """One line of a ticket's history."""

    at: datetime
    kind: str
    actor: str
    note: str


_ORDER = {
    kind: n
    for n, kind in enumerate(
        (
            "open", "case", "acknowledged", "queued", "suggested", "transferred", "returned", "reminded",
            "escalated", "second_level", "extension_asked", "extension_approved",
            "extension_refused", "answered", "visited", "rated", "reopened", "resolved", "closed",
        )
    )
}  # fmt: skip


_ADD_STEP = DriverStatement(
    insert(cast(Table, TicketStep.__table__)),
    ("question_id", "kind", "at", "official_id", "note"),
)
"""``add_step``'s statement (a step of every question: acknowledged, suggested)."""


class LoopStore(StoreBase):
    """Deadlines, 督办 stages, extensions and the history of tickets."""

    def plan_deadline(
        self,
        question_id: int,
        *,
        due_at: datetime,
        remind_at: datetime,
        second_level_at: datetime,
        limit_label: str = "",
    ) -> QuestionInfo:
        """Give a question a (new) deadline and the times of its 督办 stages; the stages start again."""
        with self._tx() as session:
            q = rows.existing_question(session, question_id)
            q.due_at = due_at
            q.remind_at = remind_at
            q.second_level_at = second_level_at
            if limit_label:
                q.limit_label = limit_label
            q.reminded_at = q.overdue_notified_at = q.second_level_sent_at = None
            q.extension_due_at = q.extension_official_id = None
            q.extension_reason = ""
            session.flush()
            return rows.question_info(session, q)

    def add_step(
        self, question_id: int, kind: str, *, at: datetime, official_id: int | None, note: str = ""
    ) -> None:
        """Record a step of a ticket that changes no state (reminded, extension asked, visited …)."""
        with self._tx() as session:
            # A Core INSERT built once: no ORM object to flush for a row nothing reads back.
            _ADD_STEP.rows(
                core(session),
                {"question_id": question_id, "kind": kind, "at": at, "official_id": official_id,
                 "note": note},
            )  # fmt: skip

    def claim_stage(self, stage: str, now: datetime) -> list[QuestionInfo]:
        """Waiting questions whose ``stage`` (``Stage.REMIND`` or ``Stage.SECOND_LEVEL``) fell due,
        each returned once: marked as sent and recorded as a step, in the caller's transaction."""
        due, sent = (
            (Question.remind_at, Question.reminded_at)
            if stage == Stage.REMIND
            else (Question.second_level_at, Question.second_level_sent_at)
        )
        with self._tx() as session:
            found = session.scalars(
                select(Question)
                .where(rows.timer_waiting(), sent.is_(None))
                .where(due.is_not(None), due <= now)
                .order_by(due, Question.id)
                .with_for_update(skip_locked=True)
            ).all()
            for q in found:
                setattr(q, sent.key, now)
                session.add(TicketStep(question_id=q.id, kind=stage, at=now, official_id=None))
            session.flush()
            return [rows.question_info(session, q) for q in found]

    def next_timer(self, after: datetime) -> datetime | None:
        """The earliest moment after ``after`` at which a 督办 stage of a waiting question, or the 回访
        reminder of an unrated answer, falls due."""
        # A question linked to a ticket (同问) follows it: the ticket's stages speak for both.
        waiting = rows.timer_waiting()
        timers: list[tuple[Any, ColumnElement[bool]]] = [
            (Question.remind_at, and_(waiting, Question.reminded_at.is_(None))),
            (Question.due_at, and_(waiting, Question.overdue_notified_at.is_(None))),
            (Question.second_level_at, and_(waiting, Question.second_level_sent_at.is_(None))),
            (Question.revisit_at, rows.revisit_unsent()),
        ]
        with self._tx() as session:
            found = [
                session.scalar(select(func.min(column)).where(unsent, column > after))
                for column, unsent in timers
            ]
        return min((moment for moment in found if moment is not None), default=None)

    # ---------------------------------------------------------------- extensions

    def request_extension(
        self, question_id: int, *, official_id: int, until: datetime, reason: str, at: datetime
    ) -> QuestionInfo:
        """An official asks for the deadline to move to ``until`` (a supervisor decides)."""
        with self._tx() as session:
            q = rows.existing_question(session, question_id)
            q.extension_due_at = until
            q.extension_official_id = official_id
            q.extension_reason = reason
            session.add(
                TicketStep(
                    question_id=q.id,
                    kind="extension_asked",
                    at=at,
                    official_id=official_id,
                    note=reason,
                )
            )
            session.flush()
            return rows.question_info(session, q)

    def pending_extensions(self) -> list[QuestionInfo]:
        """Questions with an extension waiting for a decision, oldest ticket first."""
        with self._tx() as session:
            found = session.scalars(
                select(Question).where(rows.extension_pending()).order_by(Question.id)
            ).all()
            return [rows.question_info(session, q) for q in found]

    def refuse_extension(self, question_id: int, *, by: int, at: datetime, note: str) -> None:
        """Drop a requested extension, recording who refused it and why."""
        with self._tx() as session:
            q = rows.existing_question(session, question_id)
            q.extension_due_at = q.extension_official_id = None
            q.extension_reason = ""
            session.add(
                TicketStep(
                    question_id=q.id, kind="extension_refused", at=at, official_id=by, note=note
                )
            )

    # ---------------------------------------------------------------- 退回

    def return_ticket(
        self,
        question_id: int,
        *,
        by_official_id: int,
        assignee_id: int | None,
        department: str,
        at: datetime,
        reason: str,
    ) -> QuestionInfo:
        """A department sends a transferred ticket back: to ``assignee_id`` and ``department`` (None:
        the supervisors' queue); the deadline keeps running."""
        with self._tx() as session:
            q = rows.existing_question(session, question_id)
            q.assignee_id = assignee_id
            q.department = department
            q.transferred_by_id = q.transferred_at = None
            session.add(
                TicketStep(
                    question_id=q.id,
                    kind="returned",
                    at=at,
                    official_id=by_official_id,
                    note=reason,
                )
            )
            session.flush()
            return rows.question_info(session, q)

    # ---------------------------------------------------------------- 走访 and 回访

    def record_visit(
        self, question_id: int, *, official_id: int, at: datetime, note: str
    ) -> QuestionInfo:
        """An offline visit or call on a ticket: engagement ``visit``, credited to the official."""
        with self._tx() as session:
            q = rows.existing_question(session, question_id)
            session.add(
                Engagement(
                    official_id=official_id, kind=EngagementKind.VISIT, at=at,
                    group_id=q.group_id, question_id=q.id, detail=note[:2000],
                )
            )  # fmt: skip
            session.flush()
            return rows.question_info(session, q)

    def plan_revisit(self, question_id: int, *, at: datetime) -> None:
        """When the latest answer, if still unrated, brings a 回访 reminder."""
        with self._tx() as session:
            q = rows.existing_question(session, question_id)
            q.revisit_at, q.revisit_reminded_at = at, None

    def claim_revisits(self, now: datetime) -> list[QuestionInfo]:
        """Answered tickets still unrated at their 回访 time, each returned once (marked and recorded
        as a step in the caller's transaction)."""
        with self._tx() as session:
            found = session.scalars(
                select(Question)
                .where(rows.revisit_unsent(), Question.revisit_at <= now)
                .order_by(Question.revisit_at, Question.id)
                .with_for_update(skip_locked=True)
            ).all()
            for q in found:
                q.revisit_reminded_at = now
                session.add(
                    TicketStep(question_id=q.id, kind="revisit_reminded", at=now, official_id=None)
                )
            session.flush()
            return [rows.question_info(session, q) for q in found]

    # ---------------------------------------------------------------- history and lists

    def history(self, question_id: int) -> list[HistoryStep]:
        """Every step of a ticket, oldest first: transitions, answers, transfers, visits, ratings and
        the steps that change no state (reminders, 督办, extensions …)."""
        with self._tx() as session:
            steps = self._transition_steps(session, question_id)
            steps += self._engagement_steps(session, question_id)
            for rating in session.scalars(
                select(Rating).where(Rating.question_id == question_id).order_by(Rating.id)
            ):
                steps.append(HistoryStep(rating.at, "rated", rating.source, rating.score))
            names = {oid: name for oid, name in session.execute(select(Official.id, Official.name))}
            for step in session.scalars(
                select(TicketStep).where(TicketStep.question_id == question_id)
            ):
                actor = names.get(step.official_id, "") if step.official_id else "系统"
                steps.append(HistoryStep(step.at, step.kind, actor, step.note))
        # Steps of the same moment in the order they happen (a rating, then the state it leads to).
        return sorted(steps, key=lambda s: (s.at, _ORDER.get(s.kind, len(_ORDER))))

    @staticmethod
    def _transition_steps(session: Session, question_id: int) -> list[HistoryStep]:
        found = session.execute(
            select(QuestionTransition, Person.display_name, Official.name)
            .outerjoin(Person, Person.id == QuestionTransition.actor_person_id)
            .outerjoin(Official, Official.id == Person.official_id)
            .where(QuestionTransition.question_id == question_id)
            .order_by(QuestionTransition.id)
        ).all()
        return [
            HistoryStep(t.at, t.to_state, official or person or "", t.note)
            for t, person, official in found
            # An answer's transition is shown by its engagement, which says more.
            if t.to_state != QuestionState.ANSWERED
        ]

    @staticmethod
    def _engagement_steps(session: Session, question_id: int) -> list[HistoryStep]:
        found = session.execute(
            select(Engagement, Official.name)
            .join(Official, Official.id == Engagement.official_id)
            .where(Engagement.question_id == question_id)
            .order_by(Engagement.id)
        ).all()
        steps = []
        for e, name in found:
            if e.kind == EngagementKind.TRANSFER:
                continue  # the transition says where to and why
            note = e.detail
            if e.kind == EngagementKind.ANSWER and e.template_id:
                note = f"[模板 {e.template_id}] {note}"
            kind = {"transfer": "transferred", "answer": "answered", "visit": "visited"}
            steps.append(HistoryStep(e.at, kind.get(e.kind, e.kind), name, note))
        return steps

    def list_tickets(
        self,
        *,
        now: datetime,
        states: tuple[str, ...] = (),
        department: str = "",
        overdue: bool = False,
        limit: int = 200,
    ) -> list[QuestionInfo]:
        """Tickets, newest first, filtered by state, department and whether they are overdue."""
        query = select(Question)
        if states:
            query = query.where(Question.state.in_(states))
        if department:
            query = query.where(Question.department == department)
        if overdue:
            query = query.where(Question.state.in_(QuestionState.WAITING), Question.due_at < now)
        with self._tx() as session:
            found = session.scalars(query.order_by(Question.id.desc()).limit(limit)).all()
            return [rows.question_info(session, q) for q in found]
