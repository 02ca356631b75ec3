"""Plain, frozen records the store returns, so callers never hold a live ORM object or a session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


class QuestionState:
    """Ticket states. Every change is a ``QuestionTransition`` row."""

    OPEN = "open"
    ANSWERED = "answered"
    RESOLVED = "resolved"
    TRANSFERRED = "transferred"
    REOPENED = "reopened"
    CLOSED = "closed"
    WAITING = frozenset({OPEN, TRANSFERRED, REOPENED})
    """States in which the resident is still waiting for an answer."""
    ALL = frozenset({OPEN, ANSWERED, RESOLVED, TRANSFERRED, REOPENED, CLOSED})


class EngagementKind:
    """What an official did."""

    LURK = "lurk"
    CHAT = "chat"
    SPEAK = "speak"
    ANSWER = "answer"
    TRANSFER = "transfer"
    VISIT = "visit"
    ALL = (LURK, CHAT, SPEAK, ANSWER, TRANSFER, VISIT)


RATING_SCORES = ("satisfied", "basically_satisfied", "unsatisfied")
"""满意 / 基本满意 / 不满意 as stored."""


@dataclass(frozen=True, slots=True)
class OfficialSpec:
    """One roster entry as the configuration gives it."""

    name: str
    department: str = ""
    role: str = "official"
    jurisdiction: str = ""
    identities: tuple[tuple[str, str], ...] = ()
    """(platform, platform user id) pairs."""
    groups: tuple[tuple[str, str], ...] = ()
    """(platform, platform chat id) pairs."""


@dataclass(frozen=True, slots=True)
class OfficialInfo:
    """An official as handlers see one."""

    id: int
    name: str
    department: str
    role: str
    jurisdiction: str = ""
    identities: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class AssignmentCandidate:
    """An active official who could be given a question, with how many questions they have waiting."""

    official_id: int
    department: str
    role: str
    waiting: int


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A group chat."""

    id: int
    platform: str
    chat_id: str
    title: str


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """A stored message."""

    id: int
    platform: str
    chat_id: str
    platform_message_id: str
    group_id: int | None
    person_id: int
    text: str
    intent: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class QuestionInfo:
    """A ticket as handlers see one."""

    id: int
    platform: str
    chat_id: str
    platform_message_id: str
    group_id: int | None
    group_title: str
    asker_user_id: str
    asker_name: str
    text: str
    department: str
    department_confident: bool
    assignee_id: int | None
    assignee_name: str
    state: str
    created_at: datetime
    due_at: datetime
    first_response_at: datetime | None
    answered_at: datetime | None
    ack_platform_message_id: str | None
    answer_platform_message_id: str | None
    limit_label: str = ""
    answered_by_id: int | None = None
    transferred_by_id: int | None = None
    transferred_at: datetime | None = None
    extension_due_at: datetime | None = None
    extension_official_id: int | None = None
    extension_reason: str = ""
    duplicate_of_id: int | None = None
    """The ticket this question is linked to (同问), if any."""

    @property
    def number(self) -> str:
        """The number residents quote, e.g. ``Q12``."""
        return f"Q{self.id}"

    def is_overdue(self, now: datetime) -> bool:
        """True when the resident is still waiting and the promised time has passed."""
        return self.state in QuestionState.WAITING and now > self.due_at


@dataclass(frozen=True, slots=True)
class AnswerResult:
    """What answering a question changed."""

    question: QuestionInfo
    response_seconds: float
    first_answer: bool
    on_time: bool


@dataclass(frozen=True, slots=True)
class Digest:
    """What an official missed in their groups since their last digest."""

    since: datetime | None
    until: datetime
    new_questions: list[QuestionInfo]
    waiting_questions: list[QuestionInfo]
    flagged: list[tuple[str, str, str, str, bool]]
    """(group title, sender name, intent, text, confident) of suggestions and complaints; ``confident``
    is False for a label the classifier was unsure of."""
    texts: list[str]
    """Residents' actionable texts (not chatter) in the window, for topic words."""
    message_count: int
    linked: dict[int, list[QuestionInfo]] = field(default_factory=dict)
    """The questions linked (同问) to each waiting ticket, by the ticket's id, oldest first; they are
    listed under their ticket, not in ``new_questions`` or ``waiting_questions``."""

    @property
    def is_empty(self) -> bool:
        """Nothing said in the groups and nothing waiting: a digest with nothing to tell."""
        return not (
            self.message_count or self.new_questions or self.waiting_questions or self.flagged
        )


@dataclass(frozen=True, slots=True)
class PendingSuggestions:
    """The templates last shown to an official for one question, by rank (1-based)."""

    question_id: int
    template_ids: tuple[str, ...]


@dataclass(slots=True)
class Tally:
    """Counts and times for one row of a summary (an official, a group, a department, or all)."""

    key: str
    label: str
    department: str = ""
    questions: int = 0
    answered: int = 0
    answered_on_time: int = 0
    resolved: int = 0
    overdue: int = 0
    rated: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0
    response_seconds: list[float] = field(default_factory=list)
    engagements: dict[str, int] = field(default_factory=dict)
    suggestions: int = 0
    complaints: int = 0
    messages: int = 0
    transfers_in: int = 0
    """Tickets transferred to this department in the period (departments only)."""
    returns: int = 0
    """Tickets this department sent back (退回) in the period (departments only)."""

    @property
    def response_rate(self) -> float | None:
        """Answered / questions (响应率)."""
        return self.answered / self.questions if self.questions else None

    @property
    def on_time_rate(self) -> float | None:
        """Answered within the promised time / questions."""
        return self.answered_on_time / self.questions if self.questions else None

    @property
    def resolution_rate(self) -> float | None:
        """Resolved / questions (解决率)."""
        return self.resolved / self.questions if self.questions else None

    @property
    def satisfaction_rate(self) -> float | None:
        """(满意 + 基本满意) / rated (满意率)."""
        return (self.satisfied + self.basically_satisfied) / self.rated if self.rated else None

    @property
    def median_response_seconds(self) -> float | None:
        """Median first-response time of the answered questions."""
        values = sorted(self.response_seconds)
        if not values:
            return None
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    @property
    def mean_response_seconds(self) -> float | None:
        """Average first-response time of the answered questions."""
        values = self.response_seconds
        return sum(values) / len(values) if values else None

    @property
    def p90_response_seconds(self) -> float | None:
        """The first-response time 90% of the answered questions beat (nearest rank)."""
        values = sorted(self.response_seconds)
        if not values:
            return None
        return values[max(0, -(-len(values) * 9 // 10) - 1)]


@dataclass(frozen=True, slots=True)
class Summary:
    """Engagement summary for a period, every figure traceable to stored rows."""

    since: datetime
    until: datetime
    officials: list[Tally]
    groups: list[Tally]
    departments: list[Tally]
    total: Tally
    overdue: list[QuestionInfo]
    suggestions: list[tuple[str, str, str]] = field(default_factory=list)
    """(group title, resident name, text) of the suggestions residents made in the period, newest first."""
    overdue_total: int = 0
    """How many questions are overdue in all; ``overdue`` lists the soonest due of them (all, unless
    the summary was asked for fewer)."""
    phrase_counts: dict[str, int] | None = None
    """The hot-topic phrases at least the asked-for number of the period's questions mention, with how
    many mention each (``bot.text.hot_topics.rank_phrases`` picks the hot topics from them); None when
    the summary was not asked for them."""


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """What a supervisor oversees: the groups assigned to them on the roster and the questions of
    their department. ``None`` in its place means everything (admins, ``minyi report``)."""

    official_id: int
    department: str = ""


class AuditOutcome:
    """How an audited action ended."""

    DONE = "done"
    REFUSED = "refused"
    FAILED = "failed"
    UNMASKED = "unmasked"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One line of the audit log (``storage.models.AuditEntry``)."""

    at: datetime
    actor: str
    """``platform:user_id``."""
    chat: str
    """``platform:chat_id``."""
    in_group: bool
    action: str
    outcome: str
    actor_name: str = ""
    official_id: int | None = None
    role: str = "resident"
    subject: str = ""
    reason: str = ""
    detail: str = ""
