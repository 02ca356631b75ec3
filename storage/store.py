"""The store: intention-revealing methods over the models, so handlers never build queries.

``Store`` is the one entry point; it is made of parts, each keeping one kind of thing:

- storage/base.py — sessions, transactions, units of work, ``StoreError`` and ``StoreUnavailable``
- storage/roster.py — departments, officials, their accounts and groups, invite codes
- storage/messages.py — the messages the bot saw
- storage/tickets.py — questions, transitions, answers, ratings, transfers, overdue reminders
- storage/suggestions.py — reply templates and the suggestions shown to officials
- storage/engagement.py — what officials did, and their digests
- storage/reports.py — summaries for supervisors
- storage/loop.py — deadlines, 督办 stages, extensions, a ticket's history
- storage/warnings.py — topic counts and early warnings (舆情预警)
- storage/duplicates.py — 同问: questions linked to the open ticket that asks the same
- storage/attention.py — complaints nobody @-mentioned, shown to officials in batches
- storage/registry.py — 好想法好建议: residents' suggestions with a number and a status
- storage/schedule.py — scheduled jobs: announcements at a time, the recurring digest and brief
- storage/journal.py — the inbox (what platforms delivered) and the outbox (what the bot is to send)
- storage/audit.py — the audit log (staff actions, refusals, failed binds, unmasked views)
- storage/ticket_search.py — the web console's ticket list and ticket histories
- storage/accounts.py — web-console password hashes
- storage/opinion.py — residents' suggestions and complaints, for the weekly brief

storage/rows.py holds the row helpers they share. The store keeps facts, not policy or wording: the
handlers choose assignees (handlers/assignment.py), judge ratings (handlers/rating_rules.py) and word
refusals (handlers/store_messages.py).

Each method runs in its own transaction (or the unit of work's) and returns plain records
(storage/records.py). Methods are synchronous; the bot calls them off the event loop (see
``bot.work.Services.db``). Every time passed in must be timezone-aware; the clock belongs to the
caller so tests and the demo can move it.
"""

from __future__ import annotations

from storage.accounts import AccountStore
from storage.attention import AttentionStore
from storage.audit import AuditStore
from storage.base import StoreConflict, StoreError, StoreErrorCode, StoreUnavailable, is_outage
from storage.duplicates import DuplicateStore
from storage.engagement import EngagementStore
from storage.journal import JournalStore
from storage.loop import LoopStore
from storage.messages import MessageStore
from storage.opinion import OpinionStore
from storage.registry import RegistryStore
from storage.reports import ReportStore
from storage.roster import RosterStore
from storage.schedule import ScheduleStore
from storage.suggestions import SuggestionStore
from storage.ticket_search import TicketSearchStore
from storage.tickets import TicketStore
from storage.warnings import WarningStore

__all__ = [
    "Store",
    "StoreConflict",
    "StoreError",
    "StoreErrorCode",
    "StoreUnavailable",
    "is_outage",
]


class Store(
    RosterStore,
    MessageStore,
    TicketStore,
    SuggestionStore,
    EngagementStore,
    ReportStore,
    JournalStore,
    AuditStore,
    TicketSearchStore,
    AccountStore,
    OpinionStore,
    LoopStore,
    WarningStore,
    DuplicateStore,
    AttentionStore,
    RegistryStore,
    ScheduleStore,
):
    """All reads and writes minyi makes.

    A plain ``Store`` runs each method in a transaction of its own. ``unit_of_work()`` yields a store
    bound to one session: every method called on it joins that one transaction, which commits when the
    block ends — how the dispatcher makes everything one event changes land together, or not at all.
    """
