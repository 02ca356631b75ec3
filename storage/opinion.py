"""What residents raised besides questions: the suggestions and complaints the classifier was sure of,
for the weekly brief (网情动态) and the console."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import ColumnElement, func, select

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


RAISED_INTENTS = ("suggestion", "complaint")


def _raised(
    since: datetime, until: datetime, intents: tuple[str, ...], scope: ReportScope
) -> tuple[ColumnElement[bool], ...]:
    """The conditions on a resident's confident ``intents`` messages in groups, in the period."""
    return (
        Message.sent_at >= since,
        Message.sent_at < until,
        Message.intent.in_(intents),
        Message.intent_confident.is_(True),
        Message.from_official.is_(False),
        Message.group_id.is_not(None),
        scope.messages(),
    )


class OpinionStore(StoreBase):
    """Residents' suggestions and complaints."""

    def raised_by_day(
        self, since: datetime, until: datetime, zone: tzinfo, scope: ReportScope = EVERYTHING
    ) -> list[tuple[date, int, int]]:
        """(local day, suggestions, complaints) for every day of the period: narrow rows read from
        the covering time index, counted here because day boundaries depend on the zone."""
        days: dict[date, list[int]] = {}
        day = since.astimezone(zone).date()
        last = (until - timedelta(microseconds=1)).astimezone(zone).date()
        while day <= last:
            days[day] = [0, 0]
            day += timedelta(days=1)
        with self._tx() as session:
            found = session.execute(
                select(Message.sent_at, Message.intent).where(
                    *_raised(since, until, RAISED_INTENTS, scope)
                )
            )
            for sent_at, intent in found:
                counts = days.setdefault(sent_at.astimezone(zone).date(), [0, 0])
                counts[RAISED_INTENTS.index(intent)] += 1
        return [
            (d, suggestions, complaints) for d, (suggestions, complaints) in sorted(days.items())
        ]

    def topics_by_day(
        self, since: datetime, until: datetime, zone: tzinfo, scope: ReportScope = EVERYTHING
    ) -> dict[str, dict[date, int]]:
        """Residents' group messages with a topic in the period, counted per topic key and local
        day (only days with messages are listed)."""
        found: dict[str, dict[date, int]] = {}
        with self._tx() as session:
            rows = session.execute(
                select(Message.topic_key, Message.sent_at).where(
                    Message.sent_at >= since,
                    Message.sent_at < until,
                    Message.topic_key.is_not(None),
                    Message.from_official.is_(False),
                    Message.group_id.is_not(None),
                    scope.messages(),
                )
            )
            for key, sent_at in rows:
                if key is None:  # excluded by the query; tells the type checker
                    continue
                days = found.setdefault(key, {})
                day = sent_at.astimezone(zone).date()
                days[day] = days.get(day, 0) + 1
        return found

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
        where = _raised(since, until, (intent,), scope)
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
