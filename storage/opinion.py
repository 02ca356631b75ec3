"""What residents raised besides questions: the suggestions and complaints the classifier was sure of,
for the weekly brief (网情动态) and the console."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from storage.base import StoreBase
from storage.models import Group, Message, Person
from storage.reports import EVERYTHING, ReportScope


@dataclass(frozen=True, slots=True)
class RaisedMessage:
    """A resident's suggestion or complaint in a group."""

    at: datetime
    group_title: str
    sender: str
    intent: str
    text: str


class OpinionStore(StoreBase):
    """Residents' suggestions and complaints."""

    def raised(
        self,
        since: datetime,
        until: datetime,
        intent: str,
        scope: ReportScope = EVERYTHING,
        limit: int = 10,
    ) -> tuple[int, list[RaisedMessage]]:
        """How many confident ``intent`` messages residents sent in the period, and the latest
        ``limit`` of them (newest first)."""
        where = (
            Message.sent_at >= since,
            Message.sent_at < until,
            Message.intent == intent,
            Message.intent_confident.is_(True),
            Message.from_official.is_(False),
            Message.group_id.is_not(None),
            scope.messages(),
        )
        with self._tx() as session:
            total = session.scalar(select(func.count()).select_from(Message).where(*where)) or 0
            found = session.execute(
                select(
                    Message.sent_at,
                    func.coalesce(Group.title, Message.chat_id),
                    Person.display_name,
                    Message.intent,
                    Message.text,
                )
                .join(Group, Group.id == Message.group_id)
                .join(Person, Person.id == Message.person_id)
                .where(*where)
                .order_by(Message.sent_at.desc(), Message.id.desc())
                .limit(limit)
            )
            return total, [RaisedMessage(*row) for row in found]
