"""minyi's store: SQLAlchemy models, migrations and a ``Store`` with intention-revealing methods.

Imports SQLAlchemy and the standard library only; never ``bot`` or ``handlers``.
"""

from storage.attention import UnaddressedMessage
from storage.database import DatabaseLocationError, current_revision, make_engine, upgrade
from storage.journal import InboxEntry, InboxRecord, JournalHealth, OutboxEntry, OutboxRecord
from storage.records import (
    RATING_SCORES,
    AnswerResult,
    AssignmentCandidate,
    AuditOutcome,
    AuditRecord,
    Digest,
    EngagementKind,
    GroupInfo,
    Jurisdiction,
    MessageInfo,
    OfficialInfo,
    OfficialSpec,
    PendingSuggestions,
    QuestionInfo,
    QuestionState,
    Summary,
    Tally,
)
from storage.registry import RegistryChange, RegistryEntry, RegistryQuery, SuggestionStatus
from storage.schedule import JobInfo, JobKind, JobState
from storage.store import Store, StoreConflict, StoreError, StoreErrorCode, StoreUnavailable
from storage.warnings import TopicCounts, TopicMessageInfo, WarningBurst, WarningInfo

__all__ = [
    "RATING_SCORES",
    "AnswerResult",
    "AssignmentCandidate",
    "AuditOutcome",
    "AuditRecord",
    "DatabaseLocationError",
    "Digest",
    "EngagementKind",
    "GroupInfo",
    "InboxEntry",
    "InboxRecord",
    "JobInfo",
    "JobKind",
    "JobState",
    "JournalHealth",
    "Jurisdiction",
    "MessageInfo",
    "OfficialInfo",
    "OfficialSpec",
    "OutboxEntry",
    "OutboxRecord",
    "PendingSuggestions",
    "QuestionInfo",
    "QuestionState",
    "RegistryChange",
    "RegistryEntry",
    "RegistryQuery",
    "Store",
    "StoreConflict",
    "StoreError",
    "StoreErrorCode",
    "StoreUnavailable",
    "SuggestionStatus",
    "Summary",
    "Tally",
    "TopicCounts",
    "TopicMessageInfo",
    "UnaddressedMessage",
    "WarningBurst",
    "WarningInfo",
    "current_revision",
    "make_engine",
    "upgrade",
]
