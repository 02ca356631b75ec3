"""What officials did and what they missed: engagement records (lurk, chat, speak, answer, transfer,
visit) and the digest of an official's groups since a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import rows
from storage.base import StoreBase, StoreError, StoreErrorCode
from storage.models import Engagement, Group, GroupAssignment, Message, Person, Question
from storage.records import Digest, EngagementKind, QuestionInfo, QuestionState


class EngagementStore(StoreBase):
    """Engagement records and digests."""

    def record_engagement(
        self,
        official_id: int,
        kind: str,
        at: datetime,
        *,
        platform: str | None = None,
        chat_id: str | None = None,
        question_id: int | None = None,
        message_id: int | None = None,
        detail: str = "",
    ) -> None:
        """Record one official action (lurk, chat, speak, visit …)."""
        if kind not in EngagementKind.ALL:
            raise StoreError(StoreErrorCode.UNKNOWN_ENGAGEMENT_KIND, kind=kind)
        with self._tx() as session:
            group_id = None
            if platform and chat_id:
                group_id = session.scalar(
                    select(Group.id).where(
                        Group.platform == platform, Group.platform_chat_id == chat_id
                    )
                )
            session.add(
                Engagement(
                    official_id=official_id, kind=kind, at=at, group_id=group_id,
                    question_id=question_id, message_id=message_id, detail=detail[:2000],
                )
            )  # fmt: skip

    def last_engagement_at(self, official_id: int, kind: str) -> datetime | None:
        """When the official last did ``kind``."""
        with self._tx() as session:
            return session.scalar(
                select(func.max(Engagement.at)).where(
                    Engagement.official_id == official_id, Engagement.kind == kind
                )
            )

    def digest(self, official_id: int, since: datetime | None, until: datetime) -> Digest:
        """What happened in the official's groups between ``since`` (None: ever) and ``until``."""
        with self._tx() as session:
            groups = select(GroupAssignment.group_id).where(
                GroupAssignment.official_id == official_id
            )
            new_q = select(Question).where(
                Question.group_id.in_(groups), Question.created_at <= until
            )
            if since is not None:
                new_q = new_q.where(Question.created_at > since)
            # A question linked to a ticket (同问) is listed once, under its ticket, not on its own.
            new_questions = [
                rows.question_info(session, q)
                for q in session.scalars(
                    new_q.where(Question.duplicate_of_id.is_(None)).order_by(Question.id)
                )
            ]
            waiting, linked = self._waiting_tickets(session, groups)
            messages = (
                select(
                    Group.title,
                    Person.display_name,
                    Message.intent,
                    Message.text,
                    Message.intent_confident,
                )
                .join(Group, Group.id == Message.group_id)
                .join(Person, Person.id == Message.person_id)
                .where(Message.group_id.in_(groups), Message.sent_at <= until)
                .where(Message.from_official.is_(False))
            )
            if since is not None:
                messages = messages.where(Message.sent_at > since)
            seen = session.execute(messages.order_by(Message.sent_at)).all()
            flagged = [
                (title, name, intent, text, confident)
                for title, name, intent, text, confident in seen
                if intent in ("suggestion", "complaint")
            ]
            return Digest(
                since=since,
                until=until,
                new_questions=new_questions,
                waiting_questions=waiting,
                flagged=flagged,
                texts=[text for _, _, intent, text, _ in seen if intent != "chatter"],
                message_count=len(seen),
                linked=linked,
            )

    @staticmethod
    def _waiting_tickets(
        session: Session, groups: Any
    ) -> tuple[list[QuestionInfo], dict[int, list[QuestionInfo]]]:
        """The tickets waiting in ``groups`` or joined by a question waiting there (a nearby group's
        ticket, 同问), oldest first, and the questions linked to each."""
        waiting_here = session.scalars(
            select(Question).where(
                Question.group_id.in_(groups), Question.state.in_(QuestionState.WAITING)
            )
        ).all()
        ids = {q.duplicate_of_id or q.id for q in waiting_here}
        tickets = session.scalars(
            select(Question)
            .where(Question.id.in_(ids), Question.state.in_(QuestionState.WAITING))
            .order_by(Question.id)
        ).all()
        open_ids = {t.id for t in tickets}
        # A linked question whose ticket no longer waits (its answer could not reach this asker)
        # is waiting on its own.
        strays = [
            q for q in waiting_here if q.duplicate_of_id and q.duplicate_of_id not in open_ids
        ]
        listed = sorted([*tickets, *strays], key=lambda q: q.id)
        linked: dict[int, list[QuestionInfo]] = {}
        for q in session.scalars(
            select(Question).where(Question.duplicate_of_id.in_(open_ids)).order_by(Question.id)
        ):
            assert q.duplicate_of_id is not None
            linked.setdefault(q.duplicate_of_id, []).append(rows.question_info(session, q))
        return [rows.question_info(session, q) for q in listed], linked
