"""SQLAlchemy 2.0 models for minyi's domain (docs/ARCHITECTURE.md, "The domain, in the store's words").

Every figure a supervisor sees is computed from these rows. Times are stored timezone-aware in UTC.
Platform identifiers are strings. Schema changes go through Alembic (storage/migrations).

Text reaches the engines through ``CleanString`` / ``CleanText``: what an engine cannot hold is cleaned
at this boundary — NUL (PostgreSQL refuses it) and lone surrogates (no engine can encode them) become
U+FFFD, and a string is cut to its column's size — so hostile text is stored like any other. The inbox
payload keeps the original: ``bot.events.encode_event`` writes both as JSON escapes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime stored as UTC; SQLite's naive values come back as UTC again."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


PHRASE_CHARS = 40
"""Room for a hot-topic phrase (``bot.text.hot_topics`` makes none longer than ten characters)."""

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """``text`` with what no engine can store (NUL, lone surrogates) replaced by U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


class CleanString(TypeDecorator[str]):
    """A ``String(length)`` that stores ``storable`` text cut to the column's size."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        length = getattr(self.impl, "length", None)
        value = storable(value)
        return value[:length] if length else value


class CleanText(TypeDecorator[str]):
    """A ``Text`` that stores ``storable`` text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else storable(value)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with constraint names Alembic can diff."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 - SQLAlchemy reads a plain dict


class Department(Base):
    """A department questions can be routed to."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(CleanString(100), unique=True)


class Official(Base):
    """A person on the roster: an official, a supervisor or an admin."""

    __tablename__ = "officials"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(CleanString(100), unique=True)
    department: Mapped[str] = mapped_column(CleanString(100), default="")
    role: Mapped[str] = mapped_column(CleanString(20), default="official")
    jurisdiction: Mapped[str] = mapped_column(CleanString(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]

    identities: Mapped[list[Person]] = relationship(back_populates="official")


class Person(Base):
    """A platform identity; ``official_id`` is set when the identity belongs to someone on the roster."""

    __tablename__ = "persons"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(CleanString(20))
    platform_user_id: Mapped[str] = mapped_column(CleanString(100))
    display_name: Mapped[str] = mapped_column(CleanString(200), default="")
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"), index=True)
    first_seen_at: Mapped[datetime]

    official: Mapped[Official | None] = relationship(back_populates="identities")


class Group(Base):
    """A group chat on one platform."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("platform", "platform_chat_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(CleanString(20))
    platform_chat_id: Mapped[str] = mapped_column(CleanString(100))
    title: Mapped[str] = mapped_column(CleanString(200), default="")
    created_at: Mapped[datetime]


class GroupAssignment(Base):
    """An official answers the questions of a group."""

    __tablename__ = "group_assignments"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id"), primary_key=True)


class Message(Base):
    """Every message the bot saw (lurking), with its intent label and department guess."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("platform", "chat_id", "platform_message_id"),
        # A group's messages by time, with what the summary and digests count (covering: the summary's
        # GROUP BY group_id reads this index alone, in order, with no table look-ups and no sort).
        Index(
            "ix_messages_group_window",
            "group_id",
            "sent_at",
            "intent",
            "intent_confident",
            "from_official",
        ),
        # The period's messages by time (the latest suggestions), with the same columns.
        Index(
            "ix_messages_window",
            "sent_at",
            "intent",
            "intent_confident",
            "from_official",
            "group_id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(CleanString(20))
    chat_id: Mapped[str] = mapped_column(CleanString(100))
    platform_message_id: Mapped[str] = mapped_column(CleanString(100))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    text: Mapped[str] = mapped_column(CleanText)
    intent: Mapped[str] = mapped_column(CleanString(20), default="chatter")
    intent_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    intent_confident: Mapped[bool] = mapped_column(Boolean, default=False)
    department: Mapped[str] = mapped_column(CleanString(100), default="")
    reply_to_platform_message_id: Mapped[str | None] = mapped_column(CleanString(100))
    from_official: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    topic_key: Mapped[str | None] = mapped_column(CleanString(200))
    """What a resident's message is about (``bot.text.topics.topic_key``), for early warning."""
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    """A confident complaint or request for help that @-mentioned no one (shown to officials)."""
    attention_alerted_at: Mapped[datetime | None]
    """When the group's officials were shown it."""


WAITING_STATES = "state IN ('open', 'reopened', 'transferred')"
"""A question waiting for an answer, as the partial indexes' conditions say it (``rows.waiting`` writes
it into the queries' SQL the same way: SQLite uses a partial index only for a WHERE with its terms)."""
TIMER_WAITING = f"{WAITING_STATES} AND duplicate_of_id IS NULL"
"""A question whose 督办 stages are still to come (``rows.timer_waiting``)."""
REVISIT_UNSENT = "state = 'answered' AND revisit_reminded_at IS NULL"
"""An answer whose 回访 reminder is still to come (``rows.revisit_unsent`` says it in the queries)."""
EXTENSION_PENDING = f"{WAITING_STATES} AND extension_due_at IS NOT NULL"
"""A waiting question with an extension awaiting a decision (``rows.extension_pending``)."""


def _timer_index(name: str, column: str, unsent: str) -> Index:
    """An index by ``column`` of the waiting questions for which a 督办 stage is ``unsent``."""
    where = f"{TIMER_WAITING} AND {unsent}"
    return Index(name, "state", column, postgresql_where=text(where), sqlite_where=text(where))


class Question(Base):
    """A ticket; ``id`` is the number people see (``Q12``)."""

    __tablename__ = "questions"
    __table_args__ = (
        Index("ix_questions_state_due", "state", "due_at"),
        Index("ix_questions_group_created", "group_id", "created_at"),
        Index("ix_questions_assignee_created", "assignee_id", "created_at"),
        Index("ix_questions_chat_message", "platform", "chat_id", "platform_message_id"),
        Index("ix_questions_assignee_state", "assignee_id", "state"),
        Index("ix_questions_created", "created_at"),
        # Whether a message became a ticket (the summaries' unaddressed count: migration 0014).
        Index("ix_questions_message", "message_id"),
        Index("ix_questions_ack_message", "ack_platform_message_id"),
        # The 督办 timer's stages and the 回访 reminder, each over the questions it has still to fire
        # for (migration 0017): the minute's check reads none it fired for before.
        _timer_index("ix_questions_remind_unsent", "remind_at", "reminded_at IS NULL"),
        _timer_index(
            "ix_questions_overdue_unnotified",
            "due_at",
            "(overdue_notified_at IS NULL OR overdue_notified_at <= answered_at)",
        ),
        _timer_index(
            "ix_questions_second_level_unsent", "second_level_at", "second_level_sent_at IS NULL"
        ),
        Index(
            "ix_questions_revisit_unsent",
            "state",
            "revisit_at",
            postgresql_where=text(REVISIT_UNSENT),
            sqlite_where=text(REVISIT_UNSENT),
        ),
        # The extensions awaiting a supervisor's decision (/approve's list: migration 0019).
        Index(
            "ix_questions_extension_pending",
            "state",
            "id",
            postgresql_where=text(EXTENSION_PENDING),
            sqlite_where=text(EXTENSION_PENDING),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(CleanString(20))
    chat_id: Mapped[str] = mapped_column(CleanString(100))
    platform_message_id: Mapped[str] = mapped_column(CleanString(100))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    asker_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    text: Mapped[str] = mapped_column(CleanText)
    department: Mapped[str] = mapped_column(CleanString(100), default="")
    department_confident: Mapped[bool] = mapped_column(Boolean, default=False)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"))
    state: Mapped[str] = mapped_column(CleanString(20), default="open")
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"))
    resolved_at: Mapped[datetime | None]
    ack_platform_message_id: Mapped[str | None] = mapped_column(CleanString(100))
    answer_platform_message_id: Mapped[str | None] = mapped_column(CleanString(100), index=True)
    answer_text: Mapped[str | None] = mapped_column(CleanText)
    overdue_notified_at: Mapped[datetime | None]
    """When the overdue reminder went out, so it goes out once per wait."""
    # The closed loop (migration 0005): 督办 stages, extensions, transfers and 回访.
    limit_label: Mapped[str] = mapped_column(CleanString(40), default="", server_default="")
    """The time limit the deadline was counted from (``咨询 · 1个工作日``)."""
    remind_at: Mapped[datetime | None]
    """督办 stage 1: when the handling official is reminded (a share of the time, default 80%)."""
    reminded_at: Mapped[datetime | None]
    second_level_at: Mapped[datetime | None]
    """督办 stage 3: when the delay goes to the next level up."""
    second_level_sent_at: Mapped[datetime | None]
    extension_due_at: Mapped[datetime | None]
    """A requested extension waiting for a supervisor's /approve."""
    extension_official_id: Mapped[int | None] = mapped_column(Integer)
    extension_reason: Mapped[str] = mapped_column(CleanText, default="", server_default="")
    transferred_by_id: Mapped[int | None] = mapped_column(Integer)
    """Who made the latest transfer (a 退回 goes back to them)."""
    transferred_at: Mapped[datetime | None]
    revisit_at: Mapped[datetime | None]
    """When an answer still unrated brings a 回访 reminder."""
    revisit_reminded_at: Mapped[datetime | None]
    """When the official was asked to 回访 an answer nobody rated."""
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"), index=True)
    """同问: the ticket this question was linked to; its answer reaches this asker too."""
    # Kept by a trigger on ratings (migration 0012), in the transaction that stores the rating; never
    # written here, so left out of the INSERTs that do not set them (not sent as NULL).
    latest_rating_id: Mapped[int | None] = mapped_column(Integer().evaluates_none())
    """The question's latest rating (the highest id), which the summary's satisfaction rate counts."""
    latest_score: Mapped[str | None] = mapped_column(CleanString(30).evaluates_none())
    """That rating's score."""


class QuestionTransition(Base):
    """One change of a question's state, who made it and why."""

    __tablename__ = "question_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(CleanString(20))
    to_state: Mapped[str] = mapped_column(CleanString(20))
    at: Mapped[datetime]
    actor_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    note: Mapped[str] = mapped_column(CleanText, default="")


class QuestionPhrase(Base):
    """One candidate hot-topic phrase of a question, stored when the question is opened (the bot's
    ``bot.text.hot_topics.question_phrases`` of its text: storage cannot segment text), so that the
    summary counts the period's questions per phrase in SQL instead of reading and cutting every text.

    Clustered by question on SQLite (no rowid), like the primary key's index on PostgreSQL: the summary
    finds each question of its period's phrases there."""

    __tablename__ = "question_phrases"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - SQLAlchemy reads a plain dict

    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"), primary_key=True)
    phrase: Mapped[str] = mapped_column(CleanString(PHRASE_CHARS), primary_key=True)


class TicketStep(Base):
    """A step in a ticket's life that changes no state: acknowledged, suggested, reminded, escalated,
    extension asked / approved / refused, returned, visited (``minyi ticket show`` merges these with
    the transitions, answers and ratings)."""

    __tablename__ = "ticket_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"), index=True)
    kind: Mapped[str] = mapped_column(CleanString(30))
    at: Mapped[datetime]
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"))
    note: Mapped[str] = mapped_column(CleanText, default="")


class Engagement(Base):
    """One official action: lurk, chat, speak, answer, transfer or visit."""

    __tablename__ = "engagements"
    __table_args__ = (
        Index("ix_engagements_official_at", "official_id", "at"),
        Index("ix_engagements_kind_at", "kind", "at"),
        # The summary's period, covering what it groups by (migration 0010; replaces one on ``at``).
        Index("ix_engagements_window", "at", "official_id", "group_id", "kind"),
        Index("ix_engagements_question", "question_id"),  # a ticket's history (migration 0019)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id"))
    kind: Mapped[str] = mapped_column(CleanString(20))
    at: Mapped[datetime]
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    response_seconds: Mapped[float | None] = mapped_column(Float)
    template_id: Mapped[str | None] = mapped_column(CleanString(100))
    detail: Mapped[str] = mapped_column(CleanText, default="")


class MessageHour(Base):
    """How many messages a group had in one UTC hour, and how many of them were residents' confident
    suggestions and complaints: the summary's message figures for whole hours without reading every
    message (storage/message_hours.py). Kept in the unit of work that stores the message; the hours
    before migration 0010 were filled from the messages then."""

    __tablename__ = "message_hours"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - rows in key order (migration 0010)

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    """The start of the UTC hour."""
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)
    suggestions: Mapped[int] = mapped_column(Integer, default=0)
    complaints: Mapped[int] = mapped_column(Integer, default=0)


class TopicHour(Base):
    """How many residents' messages a topic had in one UTC hour: the early warning's baseline (the
    topic's usual rate over ``[opinion] baseline_days``) for whole hours without reading every message
    (storage/warnings.py). Kept by a trigger in the unit of work that stores the message; the hours
    before migration 0015 were filled from the messages then."""

    __tablename__ = "topic_hours"
    __table_args__ = {"sqlite_with_rowid": False}  # noqa: RUF012 - rows in key order (migration 0015)

    topic_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    hour: Mapped[datetime] = mapped_column(primary_key=True)
    """The start of the UTC hour."""
    messages: Mapped[int] = mapped_column(Integer, default=0)


class Rating(Base):
    """A resident's 满意 / 基本满意 / 不满意 for an answered question."""

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    score: Mapped[str] = mapped_column(CleanString(30))
    at: Mapped[datetime]
    source: Mapped[str] = mapped_column(
        CleanString(20), default="resident", server_default="resident"
    )
    """``resident`` (a button or a word) or ``visit`` (the result of an official's 回访)."""


class Template(Base):
    """A reply template's metadata and body, synced from templates/*.j2 so answers can cite it."""

    __tablename__ = "templates"

    id: Mapped[str] = mapped_column(CleanString(100), primary_key=True)
    title: Mapped[str] = mapped_column(CleanString(200))
    intent: Mapped[str] = mapped_column(CleanString(20), default="")
    department: Mapped[str] = mapped_column(CleanString(100), default="")
    keywords: Mapped[str] = mapped_column(CleanText, default="")
    body: Mapped[str] = mapped_column(CleanText)
    updated_at: Mapped[datetime]


class Suggestion(Base):
    """A template shown to an official for a question, at a rank, so ``/reply Q12 2`` or ``2`` works."""

    __tablename__ = "suggestions"
    __table_args__ = (
        # The latest shown to an official, of any question or of one (migration 0018).
        Index("ix_suggestions_official_id", "official_id", "id"),
        Index("ix_suggestions_official_question", "official_id", "question_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id"))
    question_id: Mapped[int] = mapped_column(ForeignKey("questions.id"))
    rank: Mapped[int] = mapped_column(Integer)
    template_id: Mapped[str] = mapped_column(CleanString(100))
    at: Mapped[datetime]


class InviteCode(Base):
    """A one-time code that binds a platform account to an official (``/bind CODE``)."""

    __tablename__ = "invite_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id"))
    code_hash: Mapped[str] = mapped_column(CleanString(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    revoked_at: Mapped[datetime | None]
    """When the code was typed where others could read it (a group): it can no longer be redeemed."""


class InboxEvent(Base):
    """The journal: every event a platform delivered, committed before the platform is told it arrived.

    An event is handled from here and marked ``done`` in the same transaction as everything its handling
    changed, so a crash either finds it done or handles it again from scratch. ``(platform, event_key)``
    is unique: a redelivery is recognised and ignored. See docs/ARCHITECTURE.md, "One event".
    """

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("platform", "event_key"),
        Index("ix_inbox_state_id", "state", "id"),
        # A worker claims a chat's events only when no older one of that chat is still pending
        # (several workers: ``JournalStore.claim_events``); this answers that per event.
        Index(
            "ix_inbox_chat_pending",
            "chat_key",
            "id",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(CleanString(20))
    event_key: Mapped[str] = mapped_column(CleanString(200))
    chat_key: Mapped[str] = mapped_column(CleanString(200))
    payload: Mapped[str | None] = mapped_column(CleanText)
    """The neutral event as JSON (``bot.events.encode_event``); None when it could not be read."""
    raw: Mapped[str] = mapped_column(CleanText, default="")
    """The platform's own payload, when the adapter kept it."""
    state: Mapped[str] = mapped_column(CleanString(10), default="pending")
    """``pending`` → ``done``, or ``poison`` (unreadable, or failed ``attempts`` times)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(CleanText, default="")
    received_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """A message (or button answer) the bot is to send, written in the same transaction as the change
    that caused it and delivered afterwards by the outbox sender.

    ``pending`` → ``sending`` (committed just before the platform call) → ``sent`` / ``failed`` /
    ``uncertain``. A row found ``sending`` after a crash may or may not have been posted, so it becomes
    ``uncertain`` and is never sent again on a guess. ``follow_up`` names what to do once its fate is
    known (record the posted message's id, confirm an answer to the official …).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_id", "state", "id"),
        # A send is claimed only when no older one of its chat is pending or being sent (each
        # chat's order, whichever worker sends): ``JournalStore.mark_sending_all`` asks this index.
        Index(
            "ix_outbox_chat_open",
            "platform",
            "chat_id",
            "id",
            postgresql_where=text("state IN ('pending', 'sending')"),
            sqlite_where=text("state IN ('pending', 'sending')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("inbox.id"))
    platform: Mapped[str] = mapped_column(CleanString(20))
    chat_id: Mapped[str] = mapped_column(CleanString(100))
    kind: Mapped[str] = mapped_column(CleanString(10), default="message")
    """``message`` (posted once at most) or ``button`` (an answer to a button press: repeatable)."""
    payload: Mapped[str] = mapped_column(CleanText)
    follow_up: Mapped[str] = mapped_column(CleanText, default="")
    state: Mapped[str] = mapped_column(CleanString(10), default="pending")
    platform_message_id: Mapped[str | None] = mapped_column(CleanString(100))
    error: Mapped[str] = mapped_column(CleanText, default="")
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    claimed_by: Mapped[int | None]
    """The worker (``workers.id``) that marked it ``sending``: only a worker that is no longer alive
    leaves a send for another to take as ``uncertain``."""


class Worker(Base):
    """One ``minyi run`` process, registered at its start (several may share one PostgreSQL).

    On PostgreSQL a worker is alive while it holds a session advisory lock on its id
    (``storage.workers``); the row itself only names it (host, pid) for ``minyi doctor`` and logs.
    """

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(CleanString(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]


class AuditEntry(Base):
    """One line of the audit log: a staff action, a refused command, a failed bind or an unmasked view.

    Written in the unit of work of the event it records; append-only (migration 0004 adds triggers
    that refuse UPDATE and DELETE on both engines), and nothing in the bot reads it but ``minyi audit``
    and the bind throttle.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_actor_action_at", "actor", "action", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(CleanString(130))
    """``platform:user_id`` of whoever did it."""
    actor_name: Mapped[str] = mapped_column(CleanString(200), default="")
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"))
    role: Mapped[str] = mapped_column(CleanString(20), default="resident")
    chat: Mapped[str] = mapped_column(CleanString(130))
    """``platform:chat_id`` the command came from."""
    in_group: Mapped[bool] = mapped_column(Boolean, default=False)
    action: Mapped[str] = mapped_column(CleanString(60))
    """The route that took the event (``reply``, ``button pick:`` …) or ``bind``."""
    subject: Mapped[str] = mapped_column(CleanString(40), default="")
    """The ticket concerned (``Q12``), when there is one."""
    outcome: Mapped[str] = mapped_column(CleanString(20))
    """``done``, ``refused``, ``failed`` or ``unmasked``."""
    reason: Mapped[str] = mapped_column(CleanString(200), default="")
    detail: Mapped[str] = mapped_column(CleanText, default="")
    """What was typed or pressed, residents' personal data masked, at most 300 characters."""


class WebAccount(Base):
    """An official's password for the web console: only its argon2 hash is kept."""

    __tablename__ = "web_accounts"

    official_id: Mapped[int] = mapped_column(ForeignKey("officials.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(CleanString(200))
    updated_at: Mapped[datetime]


# A topic's messages by time: the burst detector counts one key's messages in a window.
Index("ix_messages_topic_window", Message.topic_key, Message.sent_at)
Index(
    "ix_messages_attention",
    Message.group_id,
    Message.needs_attention,
    Message.attention_alerted_at,
)
# The period's messages that need attention, by time (the summaries count them: migration 0014).
Index(
    "ix_messages_needs_attention_at",
    Message.sent_at,
    postgresql_where=text("needs_attention"),
    sqlite_where=text("needs_attention = 1"),
)


class OpinionWarning(Base):
    """A 舆情预警: one topic's burst of messages in a window, raised once per topic per window."""

    __tablename__ = "opinion_warnings"
    __table_args__ = (Index("ix_opinion_warnings_topic_raised", "topic_key", "raised_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    topic_key: Mapped[str] = mapped_column(CleanString(200))
    label: Mapped[str] = mapped_column(CleanString(200))
    count: Mapped[int] = mapped_column(Integer)
    """Messages in the window, kept up to date while the window lasts."""
    baseline: Mapped[float] = mapped_column(Float, default=0.0)
    """The topic's usual count per window when the warning was raised."""
    groups: Mapped[str] = mapped_column(CleanText, default="")
    """Titles of the groups involved, joined by 、."""
    first_message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    latest_message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    window_start: Mapped[datetime]
    raised_at: Mapped[datetime]


class ResidentSuggestion(Base):
    """好想法好建议: a resident's suggestion in the registry (``S3``), with its status."""

    __tablename__ = "resident_suggestions"
    __table_args__ = (Index("ix_resident_suggestions_created", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    status: Mapped[str] = mapped_column(CleanString(20), default="received")
    note: Mapped[str] = mapped_column(CleanText, default="")
    adopted_by_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"))
    """The official who marked it with ``/adopt`` (None: the classifier was sure of it)."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SuggestionChange(Base):
    """One change of a registry entry's status, by an official, with a note."""

    __tablename__ = "suggestion_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("resident_suggestions.id"), index=True)
    status: Mapped[str] = mapped_column(CleanString(20))
    note: Mapped[str] = mapped_column(CleanText, default="")
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"))
    at: Mapped[datetime]


class ScheduledJob(Base):
    """A job the scheduler fires once at ``due_at`` (``J3``): an announcement to groups an official
    scheduled, or one occurrence of a recurring job from bot.toml (``slot`` names it, so however
    many workers plan it, it is planned once)."""

    __tablename__ = "scheduled_jobs"
    __table_args__ = (Index("ix_scheduled_jobs_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(CleanString(20))
    """``announce`` (an official's /speak), ``broadcast`` (a supervisor's), ``digest``, ``brief``."""
    slot: Mapped[str | None] = mapped_column(CleanString(80), unique=True)
    """``digest@2026-11-16T10:00Z`` for a recurring job's occurrence; None for people's jobs."""
    official_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"), index=True)
    """Who scheduled it (None: bot.toml)."""
    platform: Mapped[str] = mapped_column(CleanString(32), default="")
    """Where the official scheduled it: their report goes there first."""
    targets: Mapped[str] = mapped_column(CleanText, default="[]")
    """The groups it goes to: JSON ``[[platform, chat id, title], …]``."""
    text: Mapped[str] = mapped_column(CleanText, default="")
    due_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(CleanString(20), default="pending")
    """``pending`` → ``fired`` or ``cancelled``."""
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    """When it fired or was cancelled."""
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("officials.id"))


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
