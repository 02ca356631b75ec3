"""Finding tickets and reading one whole: the console's filtered ticket list and a ticket's history
(its state changes, answers, ratings and the conversation around it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from storage import rows
from storage.base import StoreBase
from storage.models import (
    Engagement,
    Group,
    Message,
    Official,
    Person,
    Question,
    QuestionTransition,
    Rating,
)
from storage.records import GroupInfo, OfficialInfo, QuestionInfo, QuestionState
from storage.reports import EVERYTHING, ReportScope

CONVERSATION_AROUND = 8
"""Messages of the chat shown before and after a ticket's question."""


@dataclass(frozen=True, slots=True)
class TicketQuery:
    """What the ticket list is filtered by; empty fields do not filter."""

    state: str = ""
    department: str = ""
    group_id: int | None = None
    assignee_id: int | None = None
    overdue: bool = False
    words: tuple[str, ...] = ()
    """Spellings of the searched text (as typed, simplified …): a ticket containing any matches."""
    since: datetime | None = None
    until: datetime | None = None
    ticket_id: int | None = None
    scope: ReportScope = EVERYTHING


@dataclass(frozen=True, slots=True)
class TicketPage:
    """One page of matching tickets, newest first, and how many match in all."""

    total: int
    tickets: list[QuestionInfo]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One thing that happened to a ticket."""

    at: datetime
    kind: str
    """``transition``, ``rating`` or an engagement kind (``answer``, ``transfer`` …)."""
    actor: str
    from_state: str = ""
    to_state: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ConversationLine:
    """A message of the ticket's chat near the question."""

    at: datetime
    sender: str
    text: str
    from_official: bool
    is_question: bool


@dataclass(frozen=True, slots=True)
class TicketHistory:
    """A ticket with everything that happened to it, oldest first, and its surroundings."""

    question: QuestionInfo
    answer_text: str
    events: list[HistoryEntry]
    conversation: list[ConversationLine]


def _conditions(query: TicketQuery, now: datetime) -> list[Any]:
    found: list[Any] = [query.scope.questions()]
    if query.state:
        found.append(Question.state == query.state)
    if query.department:
        found.append(Question.department == query.department)
    if query.group_id is not None:
        found.append(Question.group_id == query.group_id)
    if query.assignee_id is not None:
        found.append(Question.assignee_id == query.assignee_id)
    if query.overdue:
        found.append(and_(Question.state.in_(QuestionState.WAITING), Question.due_at < now))
    if query.words:
        # LIKE with the text as a bound parameter (escaped): residents' words never become SQL.
        found.append(or_(*(Question.text.contains(w, autoescape=True) for w in query.words)))
    if query.ticket_id is not None:
        found.append(Question.id == query.ticket_id)
    if query.since is not None:
        found.append(Question.created_at >= query.since)
    if query.until is not None:
        found.append(Question.created_at < query.until)
    return found


class TicketSearchStore(StoreBase):
    """The console's ticket list and ticket pages."""

    def search_tickets(
        self, query: TicketQuery, now: datetime, limit: int = 50, offset: int = 0
    ) -> TicketPage:
        """The tickets matching ``query`` (newest first), ``limit`` from ``offset``, and the count."""
        where = _conditions(query, now)
        with self._tx() as session:
            total = session.scalar(select(func.count()).select_from(Question).where(*where)) or 0
            found: Any = session.execute(
                rows.question_listing()
                .where(*where)
                .order_by(Question.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return TicketPage(total=total, tickets=[QuestionInfo(*row) for row in found])

    def roster_listing(self) -> list[OfficialInfo]:
        """The active officials in roster order, without their accounts: one query, for choosing."""
        with self._tx() as session:
            found = session.execute(
                select(
                    Official.id,
                    Official.name,
                    Official.department,
                    Official.role,
                    Official.jurisdiction,
                )
                .where(Official.active.is_(True))
                .order_by(Official.id)
            )
            return [OfficialInfo(*row) for row in found]

    def all_groups(self) -> list[GroupInfo]:
        """Every group chat the bot has seen, by title: read as plain rows (every console page's
        filters list them, and loading them as ORM objects cost more than the query)."""
        with self._tx() as session:
            found = session.execute(
                select(Group.id, Group.platform, Group.platform_chat_id, Group.title).order_by(
                    Group.title, Group.id
                )
            )
            return [GroupInfo(*row) for row in found]

    def ticket_history(self, question_id: int) -> TicketHistory | None:
        """The ticket numbered ``question_id`` with its history and the conversation around it."""
        with self._tx() as session:
            q = session.get(Question, question_id)
            if q is None:
                return None
            events = [
                HistoryEntry(at, "transition", name or "", before or "", after, note)
                for at, before, after, note, name in session.execute(
                    select(
                        QuestionTransition.at,
                        QuestionTransition.from_state,
                        QuestionTransition.to_state,
                        QuestionTransition.note,
                        Person.display_name,
                    )
                    .outerjoin(Person, Person.id == QuestionTransition.actor_person_id)
                    .where(QuestionTransition.question_id == question_id)
                )
            ]
            events += [
                HistoryEntry(at, kind, name, detail=detail)
                for at, kind, name, detail in session.execute(
                    select(Engagement.at, Engagement.kind, Official.name, Engagement.detail)
                    .join(Official, Official.id == Engagement.official_id)
                    .where(Engagement.question_id == question_id)
                )
            ]
            events += [
                HistoryEntry(at, "rating", name, detail=score)
                for at, score, name in session.execute(
                    select(Rating.at, Rating.score, Person.display_name)
                    .join(Person, Person.id == Rating.person_id)
                    .where(Rating.question_id == question_id)
                )
            ]
            events.sort(key=lambda e: e.at)
            return TicketHistory(
                question=rows.question_info(session, q),
                answer_text=q.answer_text or "",
                events=events,
                conversation=self._conversation(session, q),
            )

    @staticmethod
    def _conversation(session: Any, q: Question) -> list[ConversationLine]:
        chat = select(Message.sent_at, Person.display_name, Message.text, Message.from_official)
        chat = chat.add_columns(Message.id).join(Person, Person.id == Message.person_id)
        chat = chat.where(Message.platform == q.platform, Message.chat_id == q.chat_id)
        before = session.execute(
            chat.where(Message.sent_at <= q.created_at)
            .order_by(Message.sent_at.desc(), Message.id.desc())
            .limit(CONVERSATION_AROUND + 1)
        ).all()
        after = session.execute(
            chat.where(Message.sent_at > q.created_at)
            .order_by(Message.sent_at, Message.id)
            .limit(CONVERSATION_AROUND)
        ).all()
        return [
            ConversationLine(at, name, text, official, message_id == q.message_id)
            for at, name, text, official, message_id in [*reversed(before), *after]
        ]
