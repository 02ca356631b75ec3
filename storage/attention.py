"""Complaints and requests for help nobody @-mentioned: marked on the message, shown to the group's
officials in batches (``attention_alerted_at`` says when), counted in summaries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, case, func, select, true, update

from storage.base import StoreBase, core
from storage.driver import DriverStatement
from storage.models import Group, Message, Person, Question
from storage.reports import EVERYTHING, ReportScope


@dataclass(frozen=True, slots=True)
class UnaddressedMessage:
    """A complaint or request for help nobody @-mentioned, as an alert lists it."""

    id: int
    platform_message_id: str
    sender_name: str
    text: str
    sent_at: datetime


_MESSAGES = cast(Table, Message.__table__)
_OTHERS = _MESSAGES.alias("others")
# The one statement every unaddressed complaint runs, compiled once and run on the driver's cursor
# (storage/driver.py): the mark, returning the group's latest alert, read from ix_messages_attention's
# last entry. The subquery reads the other messages (an alias: not correlated with the row marked);
# whether it sees the row just marked or not, that row's attention_alerted_at is still NULL (it was
# stored in this unit), so the latest alert is the same either way, on both engines.
_MARK = DriverStatement(
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("message_id"))
    .values(needs_attention=True)
    .returning(
        select(func.max(_OTHERS.c.attention_alerted_at))
        .where(_OTHERS.c.group_id == bindparam("group_id"), _OTHERS.c.needs_attention.is_(True))
        .scalar_subquery()
    )
)


class AttentionStore(StoreBase):
    """Messages that need an official's attention though they addressed no one."""

    def mark_needs_attention(self, message_id: int, group_id: int) -> datetime | None:
        """Mark a stored message of the group ``group_id`` as a complaint or request for help nobody
        @-mentioned; returns when the group's officials were last shown its unaddressed messages."""
        with self._tx() as session:
            found = _MARK.first(core(session), {"message_id": message_id, "group_id": group_id})
            return None if found is None else found[0]

    def _group_id(self, platform: str, chat_id: str) -> int | None:
        with self._tx() as session:
            return session.scalar(
                select(Group.id).where(
                    Group.platform == platform, Group.platform_chat_id == chat_id
                )
            )

    def claim_unaddressed(
        self, platform: str, chat_id: str, at: datetime
    ) -> list[UnaddressedMessage]:
        """The group's unaddressed messages not shown yet, oldest first, marked as shown ``at``."""
        group_id = self._group_id(platform, chat_id)
        with self._tx() as session:
            found = session.execute(
                select(Message, Person.display_name)
                .join(Person, Person.id == Message.person_id)
                .where(
                    Message.group_id == group_id,
                    Message.needs_attention.is_(True),
                    Message.attention_alerted_at.is_(None),
                )
                .order_by(Message.sent_at, Message.id)
            ).all()
            for message, _ in found:
                message.attention_alerted_at = at
            return [
                UnaddressedMessage(m.id, m.platform_message_id, name, m.text, m.sent_at)
                for m, name in found
            ]

    def unaddressed_count(
        self, since: datetime, until: datetime, scope: ReportScope = EVERYTHING
    ) -> tuple[int, int]:
        """(unaddressed complaints and requests for help posted in [since, until] within ``scope``, how
        many of them an official turned into a ticket)."""
        with self._tx() as session:
            ticketed = select(Question.id).where(Question.message_id == Message.id).exists()
            total, tickets = session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((ticketed, 1), else_=0)), 0),
                ).where(
                    # ``= true`` (not ``IS``): the form the partial index's condition takes.
                    Message.needs_attention == true(),
                    Message.sent_at >= since,
                    Message.sent_at <= until,
                    scope.messages(),
                )
            ).one()
            return int(total), int(tickets)
