"""What was said: every message the bot saw in a chat (潜水), with its intent label, and edits to it."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage import rows, topic_rollup
from storage.base import StoreBase, core
from storage.driver import DriverStatement
from storage.message_hours import hour_of
from storage.models import Message, Question
from storage.records import MessageInfo, QuestionState

_GIVEN = (
    "platform", "chat_id", "platform_message_id", "group_id", "person_id", "text", "intent",
    "intent_confidence", "intent_confident", "department", "reply_to_platform_message_id",
    "from_official", "topic_key", "sent_at",
)  # fmt: skip
"""The columns ``record_message`` gives; the others take their defaults (``needs_attention``)."""


@cache
def _insert_message(dialect: str) -> DriverStatement:
    """INSERT of one message that does nothing when the platform message is stored already."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return DriverStatement(
        insert(Message)
        .on_conflict_do_nothing(index_elements=["platform", "chat_id", "platform_message_id"])
        .returning(Message.id),
        _GIVEN,
    )


class MessageStore(StoreBase):
    """Messages the bot saw, stored once each."""

    def record_message(
        self,
        *,
        platform: str,
        chat_id: str,
        chat_title: str,
        is_group: bool,
        platform_message_id: str,
        sender_id: str,
        sender_name: str,
        text: str,
        sent_at: datetime,
        intent: str,
        intent_confidence: float,
        intent_confident: bool,
        department: str = "",
        reply_to: str | None = None,
        from_official: bool = False,
        topic_key: str | None = None,
    ) -> MessageInfo | None:
        """Store a message the bot saw; ``None`` when the same platform message is already stored."""
        with self._tx() as session:
            person_id = rows.person_id(session, platform, sender_id, sender_name, sent_at)
            group_id = (
                rows.group_id(session, platform, chat_id, chat_title, sent_at) if is_group else None
            )
            values = {
                "platform": platform,
                "chat_id": chat_id,
                "platform_message_id": platform_message_id,
                "group_id": group_id,
                "person_id": person_id,
                "text": text,
                "intent": intent,
                "intent_confidence": intent_confidence,
                "intent_confident": intent_confident,
                "department": department,
                "reply_to_platform_message_id": reply_to,
                "from_official": from_official,
                "topic_key": topic_key,
                "sent_at": sent_at,
            }
            # One INSERT, no ORM flush and no savepoint: a message stored already (the same platform
            # message id) inserts nothing and returns no id. The statement is compiled once per
            # dialect and run on the driver's cursor (storage/driver.py).
            connection = core(session)
            # In a unit of work on PostgreSQL the topic's hour is counted at commit, with the
            # unit's other messages (storage/topic_rollup.py).
            deferred = (
                self._bound is not None
                and topic_key is not None
                and not from_official
                and topic_rollup.defer(session, connection)
            )
            new_id = _insert_message(connection.dialect.name).scalar(connection, values)
            if new_id is None:
                return None
            if deferred:
                topic_rollup.remember(session, new_id, hour_of(sent_at))
            return MessageInfo(
                new_id, platform, chat_id, platform_message_id, group_id, person_id,
                text, intent, sent_at,
            )  # fmt: skip

    def edit_message(
        self,
        platform: str,
        chat_id: str,
        platform_message_id: str,
        text: str,
        at: datetime,
        question_text: str | None = None,
    ) -> bool:
        """Replace a stored message's text (and its waiting question's, with ``question_text`` —
        the text without the @-mention); False if the message was never stored."""
        with self._tx() as session:
            message = session.scalar(
                select(Message).where(
                    Message.platform == platform,
                    Message.chat_id == chat_id,
                    Message.platform_message_id == platform_message_id,
                )
            )
            if message is None:
                return False
            message.text = text
            message.edited_at = at
            question = session.scalar(select(Question).where(Question.message_id == message.id))
            if question is not None and question.state in QuestionState.WAITING:
                question.text = question_text if question_text is not None else text
            return True
