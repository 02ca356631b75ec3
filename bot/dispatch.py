"""The dispatcher: journal what platforms deliver, then handle each event in one unit of work.

1. ``receive`` (the adapters' ``Journal``) commits received events to the inbox before the adapter
   confirms them to the platform; a redelivery is recognised by its key and ignored.
2. ``process_pending`` handles journaled events in the order received. Each event is one unit of work:
   the sender's role is resolved, the observers run, then the first declared route that matches
   (``bot.routes``); whatever the handlers store, the sends they queue (the outbox) and the event's
   "done" mark commit together. A database outage rolls the unit back and the event is handled again
   once the database is back; a handler that keeps failing leaves the event as poison after
   ``max_attempts`` tries (with one apology), and the events behind it go on.
3. The ``Postman`` (``bot.outbox``) delivers the outbox.

``handle`` does all three for one event at once (the console, the demo and the dialogue tests); ``run``
keeps the inbox and outbox moving in the background for the platforms. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, NamedTuple, ParamSpec, TypeVar, cast

from bot import audit
from bot.analysis_ahead import AnalysisAhead
from bot.commands import is_status_request, parse_command, strip_mention
from bot.events import (
    EventKind,
    IncomingMessage,
    OutgoingMessage,
    Received,
    Sender,
    SentMessage,
    decode_event,
    encode_event,
    handleable,
)
from bot.outbox import Postman, encode_queued
from bot.reads import ReadAhead, ReadFirst, ReadKey, ReadSource, StoreRead, UnitReads
from bot.routes import PRIVATE_NOTE, Route, RouteTable, chat_type, refusal
from bot.work import (
    Analysis,
    Context,
    Role,
    Services,
    StaffContext,
    Work,
    analyse_texts,
    utcnow,
)
from storage import (
    InboxEntry,
    InboxRecord,
    OfficialInfo,
    OutboxEntry,
    OutboxRecord,
    Store,
    StoreConflict,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from bot.text.offload import AnalysisProcess

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

__all__ = ["Context", "Dispatcher", "NoSender", "Role", "Services", "utcnow"]

STORE_RETRY_FIRST = 0.5
"""Seconds before the first retry of a store call during a database outage (doubling each time)."""
CONFLICT_RETRIES = 3
"""Times work that lost a deadlock to another worker's is done again at once, before the pauses of an
outage."""
STORE_RETRY_MAX = 30.0
"""The longest pause between retries."""
BATCH_EVENTS = 200
"""At most this many pending events are handled in one transaction (group commit)."""
BATCH_SECONDS = 0.2
"""A batch commits once it has run this long, so the chats' answers never wait behind a long burst."""
SEND_GRACE = 0.01
"""Seconds a batch goes on after one of its events queued a send, with the events after it that may
send too (not plain group talk): a burst's questions share a commit and the postman's round, while
the first send waits at most this long plus one event for the commit that lets it out. A lone
question, or one before plain talk, ends its batch at once."""
BACKLOG = 20
"""Events found waiting at once that make a backlog (a burst of questions after a storm)."""
BACKLOG_GRACE = 0.05
"""``SEND_GRACE`` in a backlog: every send there waits for the queue ahead of it anyway, and longer
batches empty the queue sooner (a burst of 500 questions: about a third more a second than with
``SEND_GRACE``, measured by ``benchmarks/dispatch.py --burst``)."""
CONTENDED_PAUSE = (0.02, 0.32)
"""Seconds a worker waits, doubling, before it looks at the inbox again when every pending event it
found belongs to chats other workers are handling (several workers on PostgreSQL)."""
CLAIM_AHEAD = 50
"""A batch claims at most this many events at a time (one statement for all of them), fewer when
one of them may send (``_batch_body``)."""
CLAIM_SENDERS = 4
"""Events that may send claimed together after the first (``_claim_window``): about as many as a
batch handles in its ``SEND_GRACE``."""
ANALYSIS_CHUNK = 50
"""Group messages whose intents are classified together (one matrix) while the store works."""
ROLES_SECONDS = 5.0
"""How long batches reuse what they learnt of senders' roles: a roster change in this process (/bind,
anything that replies or runs in a unit of its own) forgets them at once, one made by another process
(``minyi officials add``) is seen within this many seconds."""
FRESH_SECONDS = 1.0
"""How long the inbox, once emptied, is taken to hold only what this process journals since
(``Dispatcher._take_fresh``): it is read again at least this often while events keep coming."""
READ_POLL = 1.0
"""Seconds a worker whose pending events all wait for reads looks at the inbox again at the latest."""
APOLOGY = "抱歉，处理您的消息时出现问题，已记录，工作人员会尽快处理。"


def _analysis_process(services: Services) -> AnalysisProcess | None:
    """The analysis process ``[text] analysis_process`` asks for, not started yet; None when off."""
    if not services.settings.text.analysis_process:
        return None
    # Imported only when asked for: multiprocessing's modules cost every start a few milliseconds.
    from bot.text.offload import AnalysisProcess

    return AnalysisProcess(services.text.spec)


class _BatchTexts:
    """The texts of a batch's group messages (inbox id, text), in order, and the analyses done."""

    def __init__(self, texts: list[tuple[int, str]], done: dict[int, Analysis]) -> None:
        self.texts = texts
        self.index = {event_id: i for i, (event_id, _) in enumerate(texts)}
        self.done = done
        """Analyses by inbox id, kept by the dispatcher from batch to batch: a batch cut short (by
        ``BATCH_SECONDS`` or a send) leaves the rest of its chunk analysed for the next."""

    def rest_of(self, event_id: int) -> list[tuple[int, str]]:
        """The texts from this event's on."""
        return self.texts[self.index[event_id] :]


class _Batch(NamedTuple):
    """What one attempt at a batch did."""

    handled: int | None
    """Events handled and committed (None: none of them could be claimed)."""
    poisoned: tuple[InboxRecord, IncomingMessage] | None
    sends: list[OutboxRecord]
    """The sends it queued (handed to the postman once committed)."""
    waiting: bool
    """Whether every event it could have handled waits for a read of its chat."""


_UNKNOWN = object()
"""A sender the batch's roles do not know yet."""


class _TryCarefully(Exception):
    """An optimistic batch (no savepoint per event) met an event that failed or asked for a read,
    or optimistic units (``Dispatcher.in_units_on_db_thread``) one that failed: it is rolled back
    whole and run again, each event or unit in a savepoint."""


def _plain_talk(event: IncomingMessage) -> bool:
    """A group message that is neither a command nor @-mentions the bot: most of what a group says,
    what the optimistic batch runs without a savepoint. (A guess that errs only costs time: such an
    event that fails or needs a read sends the batch round again, carefully.)"""
    return (
        event.kind is EventKind.MESSAGE
        and event.chat.is_group
        and not event.mentions_bot
        and "@" not in event.text  # a mention, maybe of the bot by an alias
        and "＠" not in event.text
        and not event.text.lstrip().startswith(("/", "／"))
    )


def _claim_window(events: Sequence[IncomingMessage]) -> int:
    """How many of ``events`` (the batch's next, in order) to claim at once: through plain talk to
    the first event that may send, and on through up to ``CLAIM_SENDERS`` events that may send
    right after it (a burst's questions share the batch for ``SEND_GRACE``), never into the plain
    talk after them, where the batch ends. What it claimed beyond its end would be released again
    (claiming the next 50 in a burst of questions, 49 were released for each one handled)."""
    senders = 0
    for n, event in enumerate(events):
        if _plain_talk(event):
            if senders:
                return n
            continue
        senders += 1
        if senders == CLAIM_SENDERS:
            return n + 1
    return len(events)


def _group_talk(ctx: Context) -> bool:
    """A group message that is no command (a resident's question, say): handling it changes no one's
    role, so the roles a batch learnt stand after it sent something."""
    event = ctx.message
    return (
        event.kind is EventKind.MESSAGE
        and event.chat.is_group
        and event.button is None
        and ctx.command is None
    )


class _NotYet:
    """The reads an optimistic attempt sees: none is taken there (the attempt may yet be rolled
    back, and a read's result is taken once), so an event that needs one raises ``ReadFirst`` and
    the batch runs carefully."""

    def __init__(self, ahead: ReadAhead) -> None:
        self.concurrent = ahead.concurrent
        self.many = ahead.many

    def take(self, event_id: int | None, key: ReadKey) -> None:
        """Nothing, ever."""
        return None


class NoSender(RuntimeError):
    """Raised when a message must go to a platform no adapter is connected for."""


class Dispatcher:
    """Journals events, handles them one unit of work each, and hands the outbox to the adapters."""

    def __init__(
        self,
        services: Services,
        routes: RouteTable,
        *,
        store_patience: float = 600.0,
        max_attempts: int = 3,
    ) -> None:
        """``store_patience``: how many seconds an event waits out a database outage in ``handle``
        before it is given up (logged; it stays in the inbox). ``max_attempts``: how many times a
        failing event is tried before it is kept as poison."""
        self.services = services
        self.routes = routes
        self.store_patience = store_patience
        self.max_attempts = max_attempts
        self.postman = Postman(self)
        self._senders: dict[str, Sender] = {}
        # One unit of work (and one stand-alone write) at a time: SQLite has one writer, and a unit
        # holds its transaction across awaits, so a second writer on the database thread would wait
        # for a lock the first cannot release.
        self._write_lock = asyncio.Lock()
        self._processing = asyncio.Lock()
        self._inbox_wake = asyncio.Event()
        self._deadline: float | None = None
        self._stopped = False
        self._roles: dict[tuple[str, str], OfficialInfo | None] = {}
        self._roles_since = 0.0
        self._journaled = 0
        """How many times this process journaled: ``process_pending`` asks the inbox again only
        when something was journaled since it last looked (or the batch was full)."""
        self._fresh: list[InboxRecord] = []
        """Events this process journaled since the inbox was last read (``receive``)."""
        self._emptied_at: float | None = None
        """When a batch last handled everything the inbox held (None: not known to be so): until
        ``FRESH_SECONDS`` later, the events journaled since are all there is to handle, taken
        from ``_fresh`` without reading the inbox."""
        # A batch's text analysis runs on a thread of its own, off the event loop.
        self._text_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="minyi-text")
        self._decoded: dict[int, IncomingMessage] = {}
        self._analysed: dict[int, Analysis] = {}
        self.ahead = AnalysisAhead(_analysis_process(services))
        """A backlog's texts analysed in a process of their own (``[text] analysis_process``)."""
        self._news = asyncio.Event()
        """Set when an event is journaled or a read is done (what a worker whose events all wait
        for reads waits for)."""
        self.reads = ReadAhead(
            services.store, concurrent=services.store.concurrent_reads, on_done=self._news.set
        )
        """Long reads (reports) run ahead of their events' units, off the database thread."""

    def close(self) -> None:
        """Stop the text and report threads, once what runs there is done."""
        self._text_thread.shutdown(wait=True)
        self.ahead.close()
        self.reads.close()

    # ------------------------------------------------------------------ adapters

    def connect(self, sender: Sender, bot_username: str | None = None) -> None:
        """Register the adapter that sends for ``sender.platform``."""
        self._senders[sender.platform] = sender
        handle = bot_username if bot_username is not None else getattr(sender, "username", "")
        if handle:
            self.services.bot_usernames[sender.platform] = handle

    def disconnect(self, platform: str) -> None:
        """Forget the adapter of ``platform`` (it stopped)."""
        self._senders.pop(platform, None)

    def sender_for(self, platform: str) -> Sender:
        """The adapter for ``platform``; ``NoSender`` when none is connected."""
        try:
            return self._senders[platform]
        except KeyError:
            raise NoSender(f"no adapter is connected for platform {platform!r}") from None

    @property
    def platforms(self) -> list[str]:
        """Platforms with a connected adapter."""
        return list(self._senders)

    def has_buttons(self, platform: str) -> bool:
        """True when the adapter of ``platform`` shows inline buttons."""
        sender = self._senders.get(platform)
        return bool(getattr(sender, "buttons", False))

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Post ``message`` now through the adapter of its platform (the outbox's last step)."""
        return await self.sender_for(message.platform).send(message)

    def turn(self, message: OutgoingMessage) -> AbstractAsyncContextManager[None]:
        """``message``'s turn under its platform's flood limits (``Sender.turn``); now when no
        adapter is connected for it (its ``send`` then fails, as ever)."""
        sender = self._senders.get(message.platform)
        return nullcontext() if sender is None else sender.turn(message)

    def turn_delay(self, message: OutgoingMessage) -> float:
        """Seconds until ``message``'s turn would come (``Sender.turn_delay``); 0 when no adapter is
        connected for it."""
        sender = self._senders.get(message.platform)
        return 0.0 if sender is None else sender.turn_delay(message)

    # ------------------------------------------------------------------ the journal

    async def receive(self, items: Sequence[Received]) -> None:
        """Commit received events to the inbox (the adapters' ``Journal``); raises
        ``StoreUnavailable`` when the database cannot take them, so the adapter does not confirm."""
        entries = [
            InboxEntry(
                platform=item.platform,
                key=item.key,
                chat_key=item.chat_key,
                payload=encode_event(item.event) if item.event is not None else None,
                raw=item.raw,
                error=item.error,
            )
            for item in items
            if item.event is None or not item.event.sender.is_bot
        ]
        for item in items:
            if item.event is None:
                log.error("%s: could not read event %s: %s", item.platform, item.key, item.error)
        if entries:
            _, fresh = await self.write(
                self.services.store.journal_records, entries, self.services.clock()
            )
            self._fresh += fresh
            self._journaled += 1
            self._inbox_wake.set()
            self._news.set()

    async def handle(self, message: IncomingMessage) -> None:
        """Journal one event, handle everything pending, deliver the outbox — all before returning.

        How the console, the demo and the dialogue tests talk to the bot. During a database outage it
        waits (up to ``store_patience`` seconds, then ``StoreUnavailable``)."""
        if message.sender.is_bot:
            return
        item = Received.of(message)
        await self.patiently(item.key, lambda: self.receive([item]))
        await self.process_pending()
        await self.postman.flush()

    # ------------------------------------------------------------------ the units of work

    async def write(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A stand-alone store write (its own transaction), taking its turn with the units of work."""
        async with self._write_lock:
            return await self.services.db(fn, *args, **kwargs)

    @asynccontextmanager
    async def unit(
        self, event_id: int | None = None, reads: ReadSource | None = None
    ) -> AsyncIterator[Work]:
        """One unit of work: a store bound to one transaction; the sends queued in it are written to
        the outbox and everything commits when the block ends (rolled back if it raises). ``reads``:
        where ``Work.read`` finds reads done ahead (``in_unit``)."""
        self._roles.clear()  # units of their own (commands, follow-ups, timers) may change the roster
        async with self._write_lock, self._transaction(event_id, reads) as work:
            yield work
        if work.queued:
            self.postman.wake()

    @asynccontextmanager
    async def _transaction(
        self, event_id: int | None, reads: ReadSource | None = None
    ) -> AsyncIterator[Work]:
        """A unit's transaction, the write lock already held: its store calls hop to the database
        thread, or are plain calls when the unit runs there (``in_unit_on_db_thread``)."""
        services = self.services
        bound = await services.db(services.store.begin_unit)
        work = self._work(bound, event_id, reads)
        try:
            yield work
            await self._enqueue(bound, work)
            await services.db(bound.end_unit, True)
        except BaseException:
            # Shielded: a second cancellation must not leave the session open (an open
            # transaction would keep its locks until the process ends).
            await asyncio.shield(services.db(bound.end_unit, False))
            raise

    async def in_unit(
        self, what: str, job: Callable[[Work], Awaitable[None]], *, event_id: int | None = None
    ) -> None:
        """Run ``job`` in a unit of work, again from scratch while the database is unavailable. A
        long read it asks for (``Work.read``) is done outside the unit, with the writer's turn let go
        (the batches go on meanwhile), and the unit tried again (``bot.reads.UnitReads``)."""
        reads = UnitReads(self.reads)

        async def attempt() -> None:
            # Tried again after a read, the unit happens at the same time (its reads' arguments,
            # which find them, often hold the time).
            moment = self.services.clock()
            while True:
                try:
                    async with self.unit(event_id, reads) as work:
                        work.moment = moment
                        await job(work)
                    return
                except ReadFirst as first:
                    await reads.run(first, what)

        await self.patiently(what, attempt)

    async def in_unit_on_db_thread(
        self, what: str, job: Callable[[Work], Awaitable[None]], *, event_id: int | None = None
    ) -> None:
        """``in_unit`` for a job that only calls the store and queues sends (a send's outcome and
        follow-up): the whole unit runs on the database thread (``Services.on_db_thread``), one hop
        instead of one per store call, like a batch. ``job`` must not touch the main loop's asyncio
        objects."""

        async def attempt() -> None:
            (failure,) = await self.in_units_on_db_thread([(event_id, job)])
            if failure is not None:
                raise failure

        await self.patiently(what, attempt)

    async def in_units_on_db_thread(
        self, units: Sequence[tuple[int | None, Callable[[Work], Awaitable[None]]]]
    ) -> list[Exception | None]:
        """Several units (``(event_id, job)``) of jobs that only call the store and queue sends,
        one after another in one turn of the writer and one hop to the database thread: the
        outcomes of a delivery round's sends wait for one batch of the inbox, not one each. Several
        units share one transaction (``_units_together``). What each unit came to: None, or the
        exception that rolled it back (``in_unit_on_db_thread`` tries again, patiently)."""

        self._roles.clear()  # as ``unit``: a follow-up may change the roster
        async with self._write_lock:
            try:
                together = partial(self._units_together, units, careful=False)
                results, queued = await self.services.on_db_thread(together)
            except _TryCarefully as failed:
                if len(units) == 1:
                    # Nothing to keep apart: what rolled the lone unit back is what it came to.
                    results, queued = [cast(Exception, failed.__cause__)], False
                else:
                    together = partial(self._units_together, units, careful=True)
                    results, queued = await self.services.on_db_thread(together)
        if queued:
            self.postman.wake()
        return results

    async def _units_together(
        self, units: Sequence[tuple[int | None, Callable[[Work], Awaitable[None]]]], careful: bool
    ) -> tuple[list[Exception | None], bool]:
        """``in_units_on_db_thread``'s units in one transaction, on the database thread, one commit
        for all (a delivery round's outcomes cost one commit, not one per event). ``careful``: a
        savepoint each, so a unit that fails is undone alone; not careful, a unit that fails raises
        ``_TryCarefully`` (the whole transaction is rolled back). Should the database fail, or the
        commit, every unit gets that ``StoreUnavailable``: none of them was recorded."""
        services = self.services
        results: list[Exception | None] = []
        queued = False
        bound = await services.db(services.store.begin_unit)
        try:
            for event_id, job in units:
                savepoint = await services.db(bound.begin_savepoint) if careful else None
                work = self._work(bound, event_id)
                try:
                    await job(work)
                    await self._enqueue(bound, work)
                    if savepoint is not None:
                        # Its release flushes what the unit left unwritten: a refusal is its own.
                        await services.db(bound.end_savepoint, savepoint, True)
                except StoreUnavailable:
                    raise
                except Exception as exc:
                    if savepoint is None:
                        raise _TryCarefully from exc
                    await services.db(bound.end_savepoint, savepoint, False)
                    results.append(exc)
                    continue
                results.append(None)
                queued = queued or bool(work.queued)
            try:
                await services.db(bound.end_unit, True)
            except StoreUnavailable:
                raise
            except Exception as exc:
                # A refusal at the commit (what no savepoint flushed): carefully, each unit's own
                # release finds the unit refused; refused even so, none of them was recorded.
                if not careful:
                    raise _TryCarefully from exc
                await services.db(bound.end_unit, False)
                return [exc] * len(units), False
        except StoreUnavailable as exc:
            await services.db(bound.end_unit, False)
            return [exc] * len(units), False
        except BaseException:
            await services.db(bound.end_unit, False)
            raise
        return results, queued

    async def _enqueue(self, bound: Store, work: Work) -> list[OutboxRecord]:
        """Write the sends ``work`` queued to the outbox, in its unit's transaction; their rows."""
        if not work.queued:
            return []
        entries = [encode_queued(q, work.event_id) for q in work.queued]
        ids = await self.services.db(bound.enqueue, entries, self.services.clock())
        return list(map(OutboxEntry.queued_as, entries, ids))

    async def patiently(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """Await ``attempt()`` again, with growing pauses, while the database is unavailable — for up
        to ``store_patience`` seconds, then the ``StoreUnavailable`` is raised."""
        pause, waited, conflicts = STORE_RETRY_FIRST, 0.0, 0
        while True:
            try:
                return await attempt()
            except StoreUnavailable as exc:
                if isinstance(exc, StoreConflict) and conflicts < CONFLICT_RETRIES:
                    # Another worker's transaction won a deadlock: the same work goes through now.
                    conflicts += 1
                    log.info("%s; %s is done again", exc, what)
                    continue
                if waited >= self.store_patience:
                    log.error("%s; gave up on event %s after %.0f s", exc, what, waited)
                    raise
                log.warning("%s; %s waits %.1f s", exc, what, pause)
                await asyncio.sleep(pause)
                waited += pause
                pause = min(pause * 2, STORE_RETRY_MAX)

    @property
    def winding_down(self) -> bool:
        """True once a stop's deadline has passed: no new event or send is started (one under way
        always finishes — a send cut off in the middle could only be marked uncertain)."""
        return self._deadline is not None and asyncio.get_running_loop().time() >= self._deadline

    async def run(self, poll: float = 1.0) -> None:
        """Handle journaled events and deliver the outbox as they come, until ``drain`` ends it."""
        postman = asyncio.create_task(self.postman.run(poll), name="minyi-postman")
        try:
            while not self._stopped:
                # asyncio.timeout, not wait_for: no task of its own, so a wake-up reaches this loop in
                # one turn of the event loop.
                with suppress(TimeoutError):
                    async with asyncio.timeout(poll):
                        await self._inbox_wake.wait()
                self._inbox_wake.clear()
                try:
                    await self.process_pending()
                except Exception:
                    log.exception("handling the inbox failed; trying again")
        finally:
            postman.cancel()
            await asyncio.gather(postman, return_exceptions=True)

    async def drain(self, timeout: float) -> bool:
        """A clean stop: handle everything journaled and deliver everything queued, starting nothing
        new after ``timeout`` seconds; then the background loops end. True when nothing was left."""
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + timeout
        try:
            while await self.process_pending() or await self.postman.flush(patient=True):
                pass
        finally:
            self._stopped = True
            self.postman.stopped = True
            # Wake both loops so they see the stop now, not at their next poll (a second at exit).
            self._inbox_wake.set()
            self.postman.wake()
        try:
            health = await self.services.db(self.services.store.journal_health, 0)
        except StoreUnavailable:
            return False
        return health.inbox.get("pending", 0) + health.outbox.get("pending", 0) == 0

    async def process_pending(self) -> int:
        """Handle journaled events in the order received until none is left; returns how many."""
        handled = 0
        pause = CONTENDED_PAUSE[0]
        loop = asyncio.get_running_loop()
        async with self._processing:
            while not self.winding_down:
                journaled = self._journaled
                self._news.clear()
                pending = self._take_fresh(loop.time())
                fresh = bool(pending)
                self._emptied_at = None
                if not fresh:
                    self._fresh = []  # the read finds them
                    pending = await self.patiently(
                        "the inbox",
                        lambda: self.services.db(self.services.store.pending_events, BATCH_EVENTS),
                    )
                if not pending:
                    # Events journaled from now on are all there is (those journaled during the
                    # read are in ``_fresh`` if the read missed them).
                    self._emptied_at = loop.time()
                    return handled
                done, waiting = await self._process_batch(pending)
                if done == len(pending) and (fresh or len(pending) < BATCH_EVENTS):
                    self._emptied_at = loop.time()
                if waiting:
                    # Every event left waits for a read (a report) of its chat: look again once one
                    # is done or something new is journaled (the poll is only a safety net).
                    with suppress(TimeoutError):
                        await asyncio.wait_for(self._news.wait(), READ_POLL)
                    continue
                if done is None and fresh:
                    continue  # a read handled them already: read the inbox
                if done is None:
                    # Every chat of these events is another worker's now: look again shortly (the
                    # other worker may be about to release some of them).
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, CONTENDED_PAUSE[1])
                    continue
                pause = CONTENDED_PAUSE[0]
                handled += done
                if done == len(pending) < BATCH_EVENTS and journaled == self._journaled:
                    # All there was is handled and nothing was journaled since: no need to ask
                    # the inbox again (a wake brings the background loop back).
                    return handled
        return handled

    def _take_fresh(self, now: float) -> list[InboxRecord]:
        """The next batch's events from those this process journaled (``_fresh``), when nothing
        older can be pending: the last batch handled all the inbox held, no more than
        ``FRESH_SECONDS`` ago (a read now and then finds what a worker that died left). [] when
        the inbox is to be read. A hand-off saves a lone question's read of the inbox; the claim still
        checks each event (one handled already is skipped; several workers: a chat's order)."""
        if self._emptied_at is None or now - self._emptied_at > FRESH_SECONDS:
            return []
        taken, self._fresh = self._fresh[:BATCH_EVENTS], self._fresh[BATCH_EVENTS:]
        return taken

    async def _process_batch(self, records: Sequence[InboxRecord]) -> tuple[int | None, bool]:
        """Handle the first of ``records`` in one transaction (group commit), each event in a
        savepoint of its own; returns how many were handled (None: none of them was this worker's
        to handle — their chats are other workers' now), and whether every event not handled waits
        for a read of its chat (``bot.reads``).

        Once an event queued a send, the batch ends (and commits) before the next plain group
        message or ``SEND_GRACE`` after that send (so it goes out soon; ``BACKLOG_GRACE`` when
        ``BACKLOG`` events or more wait); it also ends after
        ``BATCH_SECONDS``, or at an event whose handler failed: its savepoint is rolled back and
        the failure counted, the batch before it commits, and the event is tried again first in the
        next batch — after ``max_attempts`` failures it is kept as poison and the person hears one
        apology."""
        items: list[tuple[InboxRecord, IncomingMessage]] = []
        pending = {record.id for record in records}
        # What earlier batches decoded and analysed of events still pending is kept, the rest let go.
        self._decoded = {i: e for i, e in self._decoded.items() if i in pending}
        self._analysed = {i: a for i, a in self._analysed.items() if i in pending}
        self.ahead.keep_only(pending)
        self.reads.forget_all_but(pending)
        for record in records:
            event = self._decoded.get(record.id)
            if event is None:
                try:
                    event = handleable(decode_event(record.payload))
                except (ValueError, KeyError, TypeError):
                    if items:
                        break  # in order: the events before it first
                    await self._process(record)  # kept as poison
                    return 1, False
                self._decoded[record.id] = event
            items.append((record, event))
        texts = _BatchTexts(
            [
                (record.id, self.addressed_text(event)[0] or event.text)
                for record, event in items
                if event.kind is EventKind.MESSAGE and event.chat.is_group and event.text.strip()
            ],
            self._analysed,
        )
        handled, poisoned, waiting = await self.patiently(
            items[0][0].key, partial(self._batch_in_unit, items, texts)
        )
        if handled is None:
            return None, False
        if poisoned is not None:
            await self._apologise(*poisoned)
            handled += 1
        return handled, waiting

    async def _analysis(self, texts: _BatchTexts, event_id: int) -> Analysis | None:
        """The analysis of the event's text (None: not a group message). Group messages are
        classified ``ANALYSIS_CHUNK`` at a time, one matrix each, a chunk when the batch first
        reaches it: a batch cut short wastes at most one chunk. Not ahead of time on a second
        thread: jieba would hold the GIL and starve the store; in the analysis process
        (``[text] analysis_process``), the rest of a backlog is (``bot.analysis_ahead``)."""
        if event_id not in texts.index:
            return None
        if event_id not in texts.done:
            found = self.ahead.take(event_id)
            if not found:
                todo = [
                    (i, t)
                    for i, t in texts.rest_of(event_id)
                    if i not in texts.done and not self.ahead.sent(i)
                ]
                chunk = self.ahead.send(todo)[:ANALYSIS_CHUNK]
                analysed = await self._analyse([t for _, t in chunk])
                found = {i: a for (i, _), a in zip(chunk, analysed, strict=True)}
            texts.done.update(found)
        # Taken, not shared: an attempt rolled back must not leave its stored message on the
        # analysis a second attempt gets.
        return texts.done.pop(event_id)

    async def _analyse(self, texts: list[str]) -> list[Analysis]:
        """``analyse_texts`` off the event loop: at once on the database thread when a batch runs
        there (that thread is not the event loop's), else on the text thread."""
        if self.services.in_db_thread:
            return analyse_texts(self.services.text, texts)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._text_thread, analyse_texts, self.services.text, texts
        )

    async def _batch_in_unit(
        self,
        items: Sequence[tuple[InboxRecord, IncomingMessage]],
        texts: _BatchTexts,
    ) -> tuple[int | None, tuple[InboxRecord, IncomingMessage] | None, bool]:
        """One attempt at a batch: how many events were handled and committed (None: none could be
        claimed), the event that became poison in it, if any, and whether the events not handled
        all wait for reads. The batch runs on the database thread (``Services.on_db_thread``): its
        store calls are plain calls there. The reads its events asked for start once it is done."""
        roles = self._known_roles(asyncio.get_running_loop().time())
        asked: list[tuple[int, str, StoreRead]] = []
        # Optimistic first: no savepoint for plain group talk (two statements each, a third of a
        # group message's store time). Should such an event fail or ask for a read, the whole attempt
        # is rolled back and the batch run again with a savepoint per event, as it always ran before.
        # A batch that starts with an event that failed before is careful from the start.
        careful = any(record.attempts for record, _ in items)
        async with self._write_lock:
            try:
                try:
                    batch = await self.services.on_db_thread(
                        partial(self._batch_body, items, texts, roles, asked, careful)
                    )
                except _TryCarefully:
                    asked.clear()  # what the attempt rolled back asks again
                    roles.clear()  # and what it learnt of roles may be its own (a /bind)
                    batch = await self.services.on_db_thread(
                        partial(self._batch_body, items, texts, roles, asked, True)
                    )
            except BaseException:
                roles.clear()
                raise
        for event_id, chat_key, read in asked:
            self.reads.start(event_id, chat_key, read)
        if batch.sends:
            # Handed over, not read again: the first of the postman's reads saved from each
            # acknowledgement's way out.
            self.postman.hand(batch.sends)
        return batch.handled, batch.poisoned, batch.waiting

    async def _batch_body(
        self,
        items: Sequence[tuple[InboxRecord, IncomingMessage]],
        texts: _BatchTexts,
        roles: dict[tuple[str, str], OfficialInfo | None],
        asked: list[tuple[int, str, StoreRead]],
        careful: bool,
    ) -> _Batch:
        """``_batch_in_unit``'s work, on the database thread. ``careful``: each event in a savepoint
        of its own; an event that asks for a long read first (``ReadFirst``) is rolled back and put in
        ``asked``, its chat's later events wait. Not careful: group talk (plain, or a question to
        the bot: ``_group_talk_before``) has no savepoint, and such an event that fails or asks for a
        read raises ``_TryCarefully`` (the whole unit is rolled back)."""
        services = self.services
        loop = asyncio.get_running_loop()
        started = loop.time()
        handled, failed, queued, first_send = 0, None, False, 0.0
        sends: list[OutboxRecord] = []
        waiting = 0
        held: set[str] = set()
        poisoned: tuple[InboxRecord, IncomingMessage] | None = None
        grace = BACKLOG_GRACE if len(items) >= BACKLOG else SEND_GRACE
        bound = await services.db(services.store.begin_unit)
        try:
            # Events are claimed when the batch reaches them, the next CLAIM_AHEAD at a time (one
            # statement serves many), so a worker holds only the chats it is about to handle
            # (several workers: ``claim_events``); ``_claim_window`` says how far.
            claimed: set[int] = set()
            left: list[int] = []
            reached = 0
            for at, (record, event) in enumerate(items):
                if at == reached:
                    reached = at + _claim_window([e for _, e in items[at : at + CLAIM_AHEAD]])
                    ids = [r.id for r, _ in items[at:reached]]
                    mine = await services.db(bound.claim_events, ids, services.clock())
                    # The senders whose roles are not known yet, looked up together.
                    senders = {(e.platform, e.sender.user_id) for _, e in items[at:reached]}
                    if unknown := list(senders - roles.keys()):
                        roles.update(await services.db(bound.officials_for_identities, unknown))
                    claimed |= mine
                    left += sorted(mine)
                if record.id not in claimed:
                    continue  # handled, or being handled, by another worker
                if self.winding_down:
                    break
                if record.chat_key in held or self.reads.holds(record.chat_key):
                    # After its chat's read, in order; the chat stays held for the rest of the
                    # batch: a read that ends meanwhile (the event loop is free while the batch
                    # runs) must not let a later event of the chat go before this one.
                    held.add(record.chat_key)
                    waiting += 1
                    continue
                # Optimistic, group talk (plain, or a question to the bot) goes without a
                # savepoint: commands (a report that reads first, say) keep theirs, so they never
                # send the batch round again.
                plain = not careful and self._group_talk_before(event)
                savepoint = None if plain else await services.db(bound.begin_savepoint)
                work = self._work(bound, record.id, _NotYet(self.reads) if plain else self.reads)
                try:
                    analysis = await self._analysis(texts, record.id)
                    ctx = await self._dispatch_event(work, event, analysis, roles)
                    sends += await self._enqueue(bound, work)
                except StoreUnavailable:
                    raise
                except ReadFirst as first:
                    if savepoint is None:
                        raise _TryCarefully from first
                    await services.db(bound.end_savepoint, savepoint, False)
                    held.add(record.chat_key)
                    asked.append((record.id, record.chat_key, first.read))
                    waiting += 1
                    continue
                except Exception as exc:
                    if savepoint is None:
                        raise _TryCarefully from exc
                    await services.db(bound.end_savepoint, savepoint, False)
                    self._log_failure(event, record)
                    failed = (record, event, f"{type(exc).__name__}: {exc}")
                    roles.clear()
                    break
                if savepoint is not None:
                    await services.db(bound.end_savepoint, savepoint, True)
                left.remove(record.id)
                handled += 1
                if work.queued:
                    if not _group_talk(ctx):
                        roles.clear()  # what it did (/bind …) may have changed the roster
                    if not queued:
                        queued, first_send = True, loop.time()
                if queued and (
                    loop.time() - first_send >= grace
                    or (at + 1 < len(items) and _plain_talk(items[at + 1][1]))
                ):
                    break
                if loop.time() - started >= BATCH_SECONDS:
                    break
            if not claimed:
                await services.db(bound.end_unit, True)
                return _Batch(None, None, [], False)
            if left:
                await services.db(bound.release_events, left)
            if failed is not None:
                record, event, error = failed
                if await services.db(
                    bound.note_failure, record.id, error, self.max_attempts, services.clock()
                ):
                    poisoned = (record, event)
            await services.db(bound.end_unit, True)
        except BaseException:
            await services.db(bound.end_unit, False)
            raise
        return _Batch(handled, poisoned, sends, handled == 0 and failed is None and waiting > 0)

    def _log_failure(self, event: IncomingMessage, record: InboxRecord) -> None:
        """Log the exception being handled as this event's failed attempt (with its traceback)."""
        log.exception(
            "handling %s event %s failed (attempt %d of %d)",
            event.platform,
            record.key,
            record.attempts + 1,
            self.max_attempts,
        )

    def _known_roles(self, now: float) -> dict[tuple[str, str], OfficialInfo | None]:
        """The senders' roles batches learnt, forgotten every ``ROLES_SECONDS``."""
        if now - self._roles_since >= ROLES_SECONDS:
            self._roles.clear()
            self._roles_since = now
        return self._roles

    def _work(self, bound: Store, event_id: int | None, reads: ReadSource | None = None) -> Work:
        return Work(
            self.services,
            bound,
            platforms=self.platforms,
            buttons=self.has_buttons,
            event_id=event_id,
            routes=self.routes,
            reads=reads,
        )

    async def _process(self, record: InboxRecord) -> None:
        """Handle one journaled event in a unit of work; retry or poison it when handling fails."""
        try:
            event = handleable(decode_event(record.payload))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("inbox event %s cannot be read: %s", record.key, exc)
            await self.write(
                self.services.store.note_failure, record.id, str(exc), 1, self.services.clock()
            )
            return
        while True:
            try:
                await self.patiently(record.key, partial(self._handle_in_unit, record, event))
                return
            except StoreUnavailable:
                raise
            except Exception as exc:
                self._log_failure(event, record)
                error = f"{type(exc).__name__}: {exc}"
                poisoned = await self.patiently(
                    record.key,
                    partial(
                        self.write,
                        self.services.store.note_failure,
                        record.id,
                        error,
                        self.max_attempts,
                        self.services.clock(),
                    ),
                )
                if poisoned:
                    await self._apologise(record, event)
                    return
                record = replace(record, attempts=record.attempts + 1)

    async def _handle_in_unit(self, record: InboxRecord, event: IncomingMessage) -> None:
        async with self.unit(record.id) as work:
            await self._handle_event(work, record, event)

    async def _handle_event(self, work: Work, record: InboxRecord, event: IncomingMessage) -> None:
        """Mark the event done and dispatch it, in ``work``'s transaction."""
        if not await work.db(work.store.finish_event, record.id, work.now):
            return  # handled meanwhile (another worker)
        await self._dispatch_event(work, event)

    async def _dispatch_event(
        self,
        work: Work,
        event: IncomingMessage,
        analysis: Analysis | None = None,
        roles: dict[tuple[str, str], OfficialInfo | None] | None = None,
    ) -> Context:
        """Resolve the sender's role (from ``roles`` when a batch knows it) and dispatch the event
        (its context is returned). ``analysis``: its text's analysis, when the batch computed it
        already."""
        who = (event.platform, event.sender.user_id)
        # One look-up, not "in" then "[]": a unit of its own may clear the batch's roles from the
        # event loop (a roster change) while the batch runs on the database thread.
        known = _UNKNOWN if roles is None else roles.get(who, _UNKNOWN)
        if known is not _UNKNOWN:
            official = cast("OfficialInfo | None", known)
        else:
            official = await work.db(work.store.official_for_identity, *who)
            if roles is not None:
                roles[who] = official
        ctx = self.build_context(work, event, official)
        text = ctx.text or event.text
        if analysis is not None and analysis.text == text:
            ctx.analysis_ = analysis
        elif event.kind is EventKind.MESSAGE and ctx.command is None and text.strip():
            # Not in a batch's analysis (a private message, an event retried alone): analysed on
            # the text thread too, so a long paste never holds up the event loop.
            ctx.analysis_ = (await self._analyse([text]))[0]
        await self.dispatch(ctx)
        if event.button is not None and not ctx.button_answered:
            ctx.answer_button()  # stop the client's spinner
        return ctx

    async def _apologise(self, record: InboxRecord, event: IncomingMessage) -> None:
        """The event became poison: the person hears that something went wrong, never a traceback."""
        if event.kind is not EventKind.MESSAGE and event.kind is not EventKind.BUTTON:
            return

        async def apologise(work: Work) -> None:
            ctx = self.build_context(work, event, None)
            ctx.reply(APOLOGY, what=f"the apology for event {record.key}")
            if event.button is not None:
                ctx.answer_button()

        await self.in_unit(record.key, apologise, event_id=record.id)

    # ------------------------------------------------------------------ routing

    def _group_talk_before(self, event: IncomingMessage) -> bool:
        """``_group_talk`` of ``event``, told before it is handled: plain talk, or a group message
        to the bot that is no command."""
        if _plain_talk(event):
            return True
        if event.kind is not EventKind.MESSAGE or not event.chat.is_group or event.button:
            return False
        text = self.addressed_text(event)[0]
        handle = self.services.bot_usernames.get(event.platform)
        return parse_command(text, handle) is None and not is_status_request(text)

    def addressed_text(self, message: IncomingMessage) -> tuple[str, bool]:
        """The message's text without the bot's @-mention (handle or alias), and whether an alias
        mentioned it."""
        names = [*self.services.settings.bot.aliases]
        handle = self.services.bot_usernames.get(message.platform)
        if handle:
            names.append(handle)
        return strip_mention(message.text, names)

    def build_context(
        self, work: Work, message: IncomingMessage, official: OfficialInfo | None
    ) -> Context:
        """Strip the bot's @-mention and parse a command, for a sender already resolved."""
        role = Role(official.role) if official is not None else Role.RESIDENT
        text, alias_mentioned = self.addressed_text(message)
        handle = self.services.bot_usernames.get(message.platform)
        addressed = message.mentions_bot or alias_mentioned or message.is_private
        command = None
        if message.kind is EventKind.MESSAGE and (
            addressed or text.startswith(("/", "／")) or is_status_request(text)
        ):
            command = parse_command(text, handle)
        return Context(
            message=message,
            role=role,
            official=official,
            work=work,
            text=text,
            addressed=addressed,
            command=command,
        )

    async def dispatch(self, ctx: Context) -> Route | None:
        """Run the observers, then the first route that takes the event; returns that route."""
        for observer in self.routes.observers:
            if observer.applies(ctx):
                await observer.handler(ctx)
        for route in self.routes.routes:
            if not route.triggered_by(ctx):
                continue
            if await self._refused(ctx, route):
                await audit.record(ctx, route)
                return route
            target = StaffContext.of(ctx) if route.staff_only else ctx
            result = await route.handler(target)
            if target is not ctx:
                ctx.button_answered = target.button_answered
                ctx.analysis_ = target.analysis_
            if result is False and route.accepts is not None:
                continue
            await audit.record(ctx, route)
            return route
        return None

    @staticmethod
    async def _refused(ctx: Context, route: Route) -> bool:
        """Refuse the event when the route does not admit the sender's role, does not serve this
        chat, or may not answer it in a group; the refusal is noted for the audit log."""
        if ctx.role not in route.roles:
            if ctx.message.button is not None:
                ctx.answer_button(refusal(route))
            else:
                ctx.reply(refusal(route))
            ctx.audit.refuse("role")
        elif chat_type(ctx) not in route.chats:
            ctx.reply(route.wrong_chat or "该命令不能在这里使用。发送「帮助」查看用法。")
            ctx.audit.refuse("chat")
        elif await route.must_answer_privately(ctx):
            ctx.reply(PRIVATE_NOTE)
            ctx.audit.refuse("private only")
        return bool(ctx.audit.outcome)
