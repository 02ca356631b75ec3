"""What a handler works with: the shared ``Services``, one ``Work`` (a unit of work), and the
``Context`` of the event being handled.

A ``Work`` is one database transaction plus the sends queued in it: handlers read and write through
``work.store`` (a store bound to that transaction) and ``send`` only queues a message in the outbox,
written in the same transaction. Nothing a handler does reaches a platform or the database for good
until the dispatcher commits the unit, so a crash or an outage at any point changes nothing, and the
event is handled again from scratch. See docs/ARCHITECTURE.md, "One event".
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

from bot.commands import Command
from bot.events import Button, ButtonPress, IncomingMessage, OutgoingMessage
from bot.reads import ReadFirst, ReadSource

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.routes import RouteTable
    from bot.templating import TemplateLibrary
    from bot.text import Prediction, TemplateRanker, TextAnalyzer
    from bot.text.analyzer import TextFacts
    from bot.text.deferred import DeferredRanker
    from bot.text.topics import TopicRef
    from bot.worktime import WorkClock
    from storage import MessageInfo, OfficialInfo, Store

P = ParamSpec("P")
T = TypeVar("T")


class Role(StrEnum):
    """What a sender may do. Residents are everyone not on the roster."""

    RESIDENT = "resident"
    OFFICIAL = "official"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


STAFF = frozenset({Role.OFFICIAL, Role.SUPERVISOR, Role.ADMIN})
SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})
EVERYONE = frozenset(Role)
RESIDENTS = frozenset({Role.RESIDENT})


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


@dataclass
class Services:
    """Everything handlers share, built once by the composition root (``bot.app``)."""

    settings: Settings
    store: Store
    text: TextAnalyzer
    templates: TemplateLibrary
    ranker: TemplateRanker | DeferredRanker
    clock: Callable[[], datetime] = utcnow
    bot_usernames: dict[str, str] = field(default_factory=dict)
    """Platform → the bot's own handle there (``telegram`` → ``minyi_bot``)."""
    _executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="minyi-db")
    )

    _on_db_thread: threading.local = field(default_factory=threading.local)
    """``running`` is set on the database thread while ``on_db_thread`` work runs there."""
    _db_loop: asyncio.AbstractEventLoop | None = None
    """The database thread's own event loop (``on_db_thread``), made on first use."""

    async def db(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store call off the event loop; one worker thread keeps database work in order.
        Called from work already running on that thread (``on_db_thread``), it runs at once."""
        if self.in_db_thread:
            return fn(*args, **kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    @property
    def in_db_thread(self) -> bool:
        """True in work that ``on_db_thread`` runs (its store calls need no hop)."""
        return bool(getattr(self._on_db_thread, "running", False))

    async def on_db_thread(self, job: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run the coroutine ``job()`` makes on the database thread, on an event loop of that
        thread's own: each of its store calls is then a plain call, where a hop between threads per
        call (about half a millisecond) used to cost more than the SQL. The dispatcher runs a batch of
        events so; the main loop stays free meanwhile. Work so run must not touch the main loop's
        asyncio objects (locks, events)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run_here, job)

    def _run_here(self, job: Callable[[], Coroutine[Any, Any, T]]) -> T:
        if self._db_loop is None:
            self._db_loop = asyncio.new_event_loop()
        self._on_db_thread.running = True
        try:
            return self._db_loop.run_until_complete(job())
        finally:
            self._on_db_thread.running = False

    @functools.cached_property
    def worktime(self) -> WorkClock:
        """The working-time clock every deadline is counted on (``bot.worktime``)."""
        from bot.worktime import WorkClock

        return WorkClock(self.settings.worktime, self.settings.bot.zone)

    def close(self) -> None:
        """Stop the database worker thread (and close its event loop)."""
        self._executor.shutdown(wait=True)
        if self._db_loop is not None:
            self._db_loop.close()
            self._db_loop = None


@dataclass(frozen=True, slots=True)
class FollowUp:
    """What to do once a queued send's fate is known: a registered effect and its JSON arguments.

    The outbox sender runs the effect (``bot.outbox.effect``) in the same transaction that records
    the send as sent, uncertain or failed — e.g. remember the posted answer's id and confirm it to the
    official, or tell the official it may not have been posted.
    """

    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> str:
        """JSON text for the outbox row."""
        return json.dumps({"name": self.name, "args": self.args}, ensure_ascii=False)

    @staticmethod
    def prefix(name: str, **first: Any) -> str:
        """How the stored text of every follow-up named ``name`` begins (to find a batch of them);
        with ``first`` (one key and value), only those whose args begin with it (``job=3``: the
        sends of scheduled job J3, which belong to no event)."""
        if not first:
            return json.dumps({"name": name}, ensure_ascii=False)[:-1]
        # '{"name": …, "args": {"job": 3' and the comma after it, so that J3 does not find J30.
        return json.dumps({"name": name, "args": first}, ensure_ascii=False)[:-2] + ", "

    @staticmethod
    def decode(text: str) -> FollowUp | None:
        """The follow-up stored with an outbox row, if any."""
        if not text:
            return None
        data = json.loads(text)
        return FollowUp(data["name"], data.get("args") or {})


@dataclass(frozen=True, slots=True)
class Queued:
    """A send queued in a unit of work: a message, or the answer to a button press."""

    platform: str
    chat_id: str
    message: OutgoingMessage | None = None
    press: ButtonPress | None = None
    notice: str | None = None
    what: str = ""
    """A few words for the log if the send fails ("the acknowledgement of Q3")."""
    follow_up: FollowUp | None = None
    answer: bool = False
    """It goes to the chat the event came from (the asker's answer, not an alert to someone else)."""


class Work:
    """One unit of work: a store bound to one transaction, and the sends queued in it."""

    def __init__(
        self,
        services: Services,
        store: Store,
        *,
        platforms: Sequence[str],
        buttons: Callable[[str], bool],
        event_id: int | None = None,
        routes: RouteTable | None = None,
        reads: ReadSource | None = None,
    ) -> None:
        self.services = services
        self.reads = reads
        """Where this unit finds its long reads done ahead of it (None: ``read`` runs in it)."""
        self.routes = routes
        """The dispatcher's declared routes (what ``/help`` is made from)."""
        self.store = store
        """The store bound to this unit's transaction."""
        self.event_id = event_id
        """The inbox event being handled, if any (timers and follow-ups have none)."""
        self.platforms = tuple(platforms)
        """Platforms with a connected adapter."""
        self._buttons = buttons
        self.queued: list[Queued] = []
        self.moment: datetime | None = None
        self._read = False
        """The unit's time when pinned (a unit tried again after its reads: ``in_unit``)."""

    @property
    def now(self) -> datetime:
        """The services' clock (UTC), or the time the unit is pinned to."""
        return self.moment or self.services.clock()

    @property
    def settings(self) -> Settings:
        """The configuration."""
        return self.services.settings

    async def db(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a call of ``self.store`` (or any blocking call) on the database thread."""
        return await self.services.db(fn, *args, **kwargs)

    async def read(
        self, fn: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """A long read-only call, ``fn(store, *args)`` (a report). It runs before this unit, on the
        report thread with a connection of its own, so the chats go on meanwhile (``bot.reads``): the
        first attempt raises ``ReadFirst`` and the unit is tried again once the read is done. Without
        a ``reads`` source (or on an in-memory SQLite store) it runs in this unit like any store call."""
        reads = self.reads
        if reads is None or not reads.concurrent:
            return await self.db(fn, self.store, *args, **kwargs)
        if self._read and not reads.many:
            raise RuntimeError("an event of a batch may ask for one read (bot.reads)")
        self._read = True
        key = (fn, args, tuple(sorted(kwargs.items())))
        done = reads.take(self.event_id, key)
        if done is None:

            def read(store: Store) -> T:
                return fn(store, *args, **kwargs)

            raise ReadFirst(read, key)
        return cast(T, done.result())

    def has_buttons(self, platform: str) -> bool:
        """True when ``platform`` shows inline buttons (otherwise texts carry numbered choices)."""
        return self._buttons(platform)

    def send(
        self,
        message: OutgoingMessage,
        *,
        what: str = "",
        follow_up: FollowUp | None = None,
        answer: bool = False,
    ) -> None:
        """Queue ``message``; it goes out once the unit commits. ``follow_up`` runs when its fate is
        known; ``what`` names it in the log should it fail; ``answer`` says it goes to the chat the
        event came from."""
        self.queued.append(
            Queued(
                message.platform,
                message.chat_id,
                message=message,
                what=what or f"a message to {message.platform}:{message.chat_id}",
                follow_up=follow_up,
                answer=answer,
            )
        )

    def answer_press(
        self, platform: str, chat_id: str, press: ButtonPress, notice: str | None = None
    ) -> None:
        """Queue the answer to a button press (shown to the presser alone)."""
        self.queued.append(
            Queued(
                platform,
                chat_id,
                press=press,
                notice=notice,
                what=f"the answer to button press {press.press_id}",
            )
        )


@dataclass
class Analysis:
    """What the text services make of one event's text, computed once and shared by every handler."""

    intent: Prediction
    department: Prediction
    text: str
    """The text analysed (without the bot's @-mention)."""
    topic: TopicRef | None = None
    """What the text is about, for early warning (None for sure small talk, or when it names
    nothing a topic can be made of)."""
    stored: MessageInfo | None = None
    """The stored group message, once the record observer has stored it."""


def analyse_texts(analyzer: TextAnalyzer, texts: Sequence[str]) -> list[Analysis]:
    """The ``Analysis`` of each text, intents classified together (the dispatcher does it for a
    batch of events on its text thread, off the event loop): ``TextAnalyzer.facts``."""
    return analyses(analyzer.facts(texts), texts)


def analyses(facts: Sequence[TextFacts], texts: Sequence[str]) -> list[Analysis]:
    """Each text's ``Analysis`` from its ``TextFacts`` (made here or in the analysis process)."""
    return [
        Analysis(intent, department, text, topic)
        for (intent, department, topic), text in zip(facts, texts, strict=True)
    ]


@dataclass
class AuditNote:
    """What the audit log is to say about an event beyond "done" (written by ``bot.audit``).

    Handlers mark refusals, failures and unmasked views here; the one note is shared by the event's
    ``Context`` and its ``StaffContext``."""

    outcome: str = ""
    """Empty (done), ``refused``, ``failed`` or ``unmasked``: a marked event is always recorded."""
    reason: str = ""
    subject: str = ""
    """The ticket concerned (``Q12``)."""
    detail: str | None = None
    """What to record instead of the typed text (a bind code is never recorded)."""

    def refuse(self, reason: str) -> None:
        """The command was refused, for ``reason`` (a few English words)."""
        self.outcome, self.reason = "refused", reason

    def fail(self, reason: str) -> None:
        """The command was tried and failed (a wrong bind code)."""
        self.outcome, self.reason = "failed", reason

    def mark(self, outcome: str, reason: str = "") -> None:
        """Any other outcome worth a line of its own (``unmasked``, ``done`` for a bind)."""
        self.outcome, self.reason = outcome, reason


@dataclass
class Context:
    """One event on its way through the observers and its route."""

    message: IncomingMessage
    role: Role
    official: OfficialInfo | None
    work: Work
    text: str
    """The message text with any @-mention of the bot removed."""
    addressed: bool
    """True when the bot was @-mentioned (by handle or by a configured alias) or the chat is private."""
    command: Command | None
    analysis_: Analysis | None = None
    button_answered: bool = False
    audit: AuditNote = field(default_factory=AuditNote)
    """What the audit log records about this event (shared with the route's ``StaffContext``)."""

    @property
    def services(self) -> Services:
        """The shared services."""
        return self.work.services

    @property
    def store(self) -> Store:
        """The store, bound to this event's unit of work."""
        return self.work.store

    @property
    def now(self) -> datetime:
        """The services' clock (UTC)."""
        return self.work.now

    @property
    def settings(self) -> Settings:
        """The configuration."""
        return self.work.services.settings

    @property
    def is_staff(self) -> bool:
        """True for officials, supervisors and admins."""
        return self.role is not Role.RESIDENT

    @property
    def buttons(self) -> bool:
        """True when this event's platform shows inline buttons."""
        return self.work.has_buttons(self.message.platform)

    async def db(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store call on the database thread (within this event's unit of work)."""
        return await self.work.db(fn, *args, **kwargs)

    async def read(
        self, fn: Callable[Concatenate[Store, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """A long read-only call ``fn(store, *args)``, done without holding up the chats
        (``Work.read``)."""
        return await self.work.read(fn, *args, **kwargs)

    def analysis(self) -> Analysis:
        """Intent and department of this event's text, computed on first use."""
        if self.analysis_ is None:
            text = self.text or self.message.text
            self.analysis_ = analyse_texts(self.services.text, [text])[0]
        return self.analysis_

    @property
    def stored(self) -> MessageInfo | None:
        """The event's message as the record observer stored it (None: not stored, or not yet)."""
        return self.analysis_.stored if self.analysis_ is not None else None

    def send(
        self, message: OutgoingMessage, *, what: str = "", follow_up: FollowUp | None = None
    ) -> None:
        """Queue any message (see ``Work.send``)."""
        origin = self.message
        answer = (message.platform, message.chat_id) == (origin.platform, origin.chat.chat_id)
        self.work.send(message, what=what, follow_up=follow_up, answer=answer)

    def reply(
        self,
        text: str,
        *,
        buttons: Sequence[Sequence[Button]] = (),
        quote: bool = True,
        mention: bool = False,
        reply_to: str | None = None,
        what: str = "",
        follow_up: FollowUp | None = None,
    ) -> None:
        """Answer in the chat the event came from; in groups quote the message (or ``reply_to``)."""
        self.send(
            self.reply_message(
                text, buttons=buttons, quote=quote, mention=mention, reply_to=reply_to
            ),
            what=what or f"a reply in chat {self.message.chat.chat_id}",
            follow_up=follow_up,
        )

    def reply_message(
        self,
        text: str,
        *,
        buttons: Sequence[Sequence[Button]] = (),
        quote: bool = True,
        mention: bool = False,
        reply_to: str | None = None,
    ) -> OutgoingMessage:
        """The message ``reply`` would queue."""
        msg = self.message
        quoted = reply_to or (msg.message_id if quote and msg.chat.is_group else None)
        return OutgoingMessage(
            platform=msg.platform,
            chat_id=msg.chat.chat_id,
            text=text,
            reply_to_message_id=quoted,
            mention_user_ids=(msg.sender.user_id,) if mention and msg.chat.is_group else (),
            buttons=tuple(tuple(row) for row in buttons),
            is_private=not msg.chat.is_group,
        )

    def answer_button(self, notice: str | None = None) -> None:
        """Acknowledge the button press this event carries (no-op for other events)."""
        press = self.message.button
        if press is None or self.button_answered:
            return
        self.button_answered = True
        self.work.answer_press(self.message.platform, self.message.chat.chat_id, press, notice)

    def defer_button(self) -> None:
        """The button press will be answered by a follow-up (once its send's fate is known)."""
        self.button_answered = True


@dataclass
class StaffContext(Context):
    """The context of a route that only staff may use: ``official`` is always there."""

    official: OfficialInfo  # type: ignore[assignment]

    @classmethod
    def of(cls, ctx: Context) -> StaffContext:
        """The same event, typed for a staff route (the dispatcher checked the role)."""
        if ctx.official is None:
            raise ValueError("a staff route was given an event without an official")
        return cls(**{f.name: getattr(ctx, f.name) for f in fields(ctx)})
