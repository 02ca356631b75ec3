"""The outbox sender: delivers what units of work queued, and runs each send's follow-up.

Sends are written to the outbox in the transaction of the change that caused them (``Work.send``).
The ``Postman`` delivers them afterwards, one chat at a time in the order queued, different chats side
by side. Each message is marked ``sending`` by this worker (committed) just before the platform call,
and only once no older send of its chat is still pending or being sent — so a chat's order holds when
several workers deliver the one outbox; its outcome and its follow-up effect then commit together. A
message found ``sending`` by a worker that is no longer alive (a crash), or whose answer was lost
(``DeliveryUncertain``), may already be posted: it is recorded ``uncertain`` and never sent again on a
guess; its follow-up hears so. A live worker's sends are its own. Button answers are harmless to repeat
and are simply retried.

Follow-ups are named effects (``@effect("answer.posted")`` in a handler module) so that an outbox row
can say, across a restart, what is to happen once its fate is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot.coalesce import Coalescer
from bot.events import (
    Button,
    ButtonPress,
    DeliveryUncertain,
    OutgoingMessage,
    SentMessage,
    Undeliverable,
)
from bot.work import FollowUp, Queued, Work
from storage import OutboxEntry, OutboxRecord, StoreUnavailable

if TYPE_CHECKING:
    from bot.dispatch import Dispatcher

log = logging.getLogger(__name__)


class Delivery(StrEnum):
    """How a send ended."""

    SENT = "sent"
    UNCERTAIN = "uncertain"
    """The connection broke after the message went out (or the process died meanwhile): it may be
    posted, and is never sent again."""
    FAILED = "failed"
    """Refused, no adapter for the platform, or still failing after the adapter's retries."""


@dataclass(frozen=True, slots=True)
class Delivered:
    """A send's fate, as its follow-up sees it."""

    outcome: Delivery
    sent: SentMessage | None
    chat_id: str
    """Where it was sent."""

    @property
    def ok(self) -> bool:
        """True when the message was posted for sure."""
        return self.outcome is Delivery.SENT


Effect = Callable[[Work, Delivered, dict[str, Any]], Awaitable[None]]
EFFECTS: dict[str, Effect] = {}
"""Follow-up name → effect; filled by the ``effect`` decorator when handler modules are imported."""


def effect(name: str) -> Callable[[Effect], Effect]:
    """Register an effect under ``name`` for ``FollowUp(name, …)``."""

    def register(fn: Effect) -> Effect:
        if EFFECTS.get(name, fn) is not fn:
            raise ValueError(f"two effects are named {name!r}")
        EFFECTS[name] = fn
        return fn

    return register


# ---------------------------------------------------------------------------- encoding


def message_args(message: OutgoingMessage) -> dict[str, Any]:
    """``message`` as JSON-ready data (for outbox rows and for follow-ups that send later)."""
    return {
        "platform": message.platform,
        "chat_id": message.chat_id,
        "text": message.text,
        "reply_to": message.reply_to_message_id,
        "mention": list(message.mention_user_ids),
        "buttons": [[[b.label, b.data] for b in row] for row in message.buttons],
        "private": message.is_private,
    }


def message_from_args(data: dict[str, Any]) -> OutgoingMessage:
    """The inverse of ``message_args``."""
    return OutgoingMessage(
        platform=data["platform"],
        chat_id=data["chat_id"],
        text=data["text"],
        reply_to_message_id=data.get("reply_to"),
        mention_user_ids=tuple(data.get("mention") or ()),
        buttons=tuple(
            tuple(Button(label, value) for label, value in row) for row in data.get("buttons") or ()
        ),
        is_private=bool(data.get("private")),
    )


def encode_queued(item: Queued, event_id: int | None) -> OutboxEntry:
    """A queued send as an outbox row."""
    if item.message is not None:
        body = message_args(item.message)
        kind = "message"
    else:
        assert item.press is not None
        p = item.press
        body = {"press": [p.press_id, p.data, p.message_id], "notice": item.notice}
        kind = "button"
    body["what"] = item.what
    if item.answer:
        body["answer"] = True
    return OutboxEntry(
        platform=item.platform,
        chat_id=item.chat_id,
        kind=kind,
        payload=json.dumps(body, ensure_ascii=False),
        follow_up=item.follow_up.encode() if item.follow_up else "",
        event_id=event_id,
    )


def decode_message(row: OutboxRecord) -> OutgoingMessage:
    """The message an outbox row of kind ``message`` holds."""
    return message_from_args({**json.loads(row.payload), "platform": row.platform})


def _what(row: OutboxRecord) -> str:
    try:
        return str(json.loads(row.payload).get("what") or f"outbox message {row.id}")
    except ValueError:
        return f"outbox message {row.id}"


# ---------------------------------------------------------------------------- delivery


OUTBOX_PAGE = 200
"""Chats whose next send is read from the outbox at a time."""

TURN_WAIT = 0.05
"""Seconds a delivery round waits for a send's turn under the flood limits; a send whose turn is
further off is left pending for later (``Postman.run`` wakes for it), so that a rate-limited group
holds up only itself, not the round's other chats."""
PRIVATE_AFTER = 0.05
"""Seconds at most a round's asides (an official's alert) wait for its answers and sends into chats
(a resident's acknowledgement) to be posted: both at once would share one event loop, and the
resident's would arrive about a millisecond later."""


async def _through(work: Coroutine[Any, Any, bool]) -> bool:
    """``work`` awaited to its end even when the task awaiting it is cancelled meanwhile (a stop
    cancels the tasks that deliver: the reminders', the console's); the cancellation is raised
    once it is done. From its claim on, a send is seen through — posted and recorded: a claimed
    send left unsent would be taken at the next start for one that may have arrived (``uncertain``)
    and never sent."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        if not task.cancelled() and (failure := task.exception()) is not None:
            # Nobody awaits it any more: said here, not lost.
            log.error("a send finished after its delivery was cancelled", exc_info=failure)
        raise


def _is_aside(row: OutboxRecord) -> bool:
    """Whether the send goes to a private chat other than its event's (an official's alert); the
    answer to a command typed privately is not one."""
    if row.kind != "message":
        return False
    body = json.loads(row.payload)
    return bool(body.get("private")) and not body.get("answer")


class _RepliesFirst:
    """A round's answers and sends into chats; its asides are posted once these are
    (``PRIVATE_AFTER``)."""

    def __init__(self, rows: Sequence[OutboxRecord]) -> None:
        self._left = {row.id for row in rows if not _is_aside(row)}
        self._posted = asyncio.Event()
        if not self._left:
            self._posted.set()

    def waits(self, row: OutboxRecord) -> bool:
        """Whether ``row`` waits for the others (an aside in a round with replies)."""
        return row.id not in self._left and not self._posted.is_set()

    def posted(self, row: OutboxRecord) -> None:
        """``row`` was posted, or will not be in this round."""
        self._left.discard(row.id)
        if not self._left:
            self._posted.set()

    async def wait(self) -> None:
        """Until the replies are posted, ``PRIVATE_AFTER`` at most."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PRIVATE_AFTER):
                await self._posted.wait()


Outcome = tuple[OutboxRecord, Delivered, str]
"""A send whose fate is known: its row, how it went, and the error to record."""
Step = Callable[[Work], Awaitable[None]]
"""One send's part of the unit of work that records outcomes."""


class _HandedSends:
    """Sends handed over (``Postman.hand``) and not taken yet, each chat's in the order queued. A
    round takes each chat's first: in a burst one official's chat may hold hundreds of alerts, and
    a round must not walk all of them to find the few chats' next sends."""

    def __init__(self) -> None:
        self._chats: dict[tuple[str, str], deque[OutboxRecord]] = {}

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._chats.values())

    def __bool__(self) -> bool:
        return bool(self._chats)

    def __iter__(self) -> Iterator[OutboxRecord]:
        return itertools.chain.from_iterable(self._chats.values())

    def extend(self, rows: Sequence[OutboxRecord]) -> None:
        """Hand over ``rows`` (committed, in the order queued)."""
        for row in rows:
            self._chats.setdefault((row.platform, row.chat_id), deque()).append(row)

    def next_round(self, tried: set[int]) -> list[OutboxRecord]:
        """Each chat's first send not yet ``tried`` in this flush (those are let go: a read of the
        flush found them first); the chats' later ones stay, for the rounds after."""
        firsts = []
        for key, queue in list(self._chats.items()):
            while queue and queue[0].id in tried:
                queue.popleft()
            if queue:
                firsts.append(queue.popleft())
            if not queue:
                del self._chats[key]
        return firsts

    def drop(self, tried: set[int]) -> None:
        """Let go of the sends ``tried`` already (a read of the outbox found them)."""
        for key, queue in list(self._chats.items()):
            kept = deque(row for row in queue if row.id not in tried)
            if kept:
                self._chats[key] = kept
            else:
                del self._chats[key]


class Postman:
    """Delivers the outbox: chats side by side, each chat's messages in the order queued."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self.stopped = False
        """Set by a clean stop: ``run`` ends."""
        self._woken = 0
        """How many times something was queued: ``flush`` asks the outbox again only when something
        was queued since it last looked (a follow-up's send) or the rows filled its page."""
        self._read_after = -1
        """``_woken`` when the outbox was last read (-1: never): whatever woke the postman since is
        only in the outbox, not handed over."""
        self._claimed_unsent: set[int] = set()
        """Rows this process tried to claim when the database went away: the claim may have been
        committed, but the message was certainly not sent."""
        self.worker: int | None = None
        """This worker's id (``storage.workers``), set by ``minyi run``; None: the only worker."""
        self.live_workers: Callable[[], set[int]] = lambda: set()
        """The ids of the workers alive now (asked only when another worker's send is found
        ``sending``); on the database thread."""
        self.renew_lease: Callable[[], None] | None = None
        """Takes this worker's liveness lock again if its connection was lost (``minyi run``: the
        lease's ``renew``); ``run`` calls it every poll, on the database thread, so other workers
        do not take this one's sends in flight for a crash's for longer than that."""
        self._renewed_at = -math.inf
        self._lease_failing = False
        self._patient = False
        """While a ``flush(patient=True)`` runs: sends wait for their turns however far off."""
        self._turn_at = math.inf
        """The event loop's time when the nearest send left for its turn may go (``TURN_WAIT``)."""
        self._claim: Coalescer[int, bool] = Coalescer(self._claim_all)
        """``mark_sending`` for the chats delivered side by side, claimed in one transaction."""
        self._handed = _HandedSends()
        """Sends committed since the last round (``hand``)."""
        self._settled: Coalescer[Outcome, None] = Coalescer(self._settle_all)
        """``_settle`` for the sends that finished side by side, recorded in one unit per event."""

    def wake(self) -> None:
        """Something was queued: deliver it soon (``run``)."""
        self._woken += 1
        self._wake.set()

    def hand(self, rows: Sequence[OutboxRecord]) -> None:
        """Sends just committed: the next rounds post them without reading the outbox (the claim
        still checks each against the outbox: one already sent, or behind an older send of its chat,
        is not posted, and the outbox is read for what it holds instead). Unlike ``wake`` this says
        that nothing else was queued: a hand-off alone never makes the postman read."""
        self._handed.extend(rows)
        self._wake.set()

    async def run(self, poll: float = 1.0) -> None:
        """Deliver whenever woken (or every ``poll`` seconds) until cancelled."""
        loop = asyncio.get_running_loop()
        while not self.stopped:
            # asyncio.timeout, not wait_for: no task of its own, so a wake-up reaches this loop in
            # one turn of the event loop.
            woken = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(poll, max(0.0, self._turn_at - loop.time()))):
                    woken = await self._wake.wait()
            self._wake.clear()
            if self._turn_at <= loop.time():
                self._turn_at = math.inf
                woken = False  # a send left for its turn: the outbox is read for it
            if self.renew_lease is not None and loop.time() - self._renewed_at >= poll:
                self._renewed_at = loop.time()
                await self._renew()
            if (
                woken
                and not (self._handed or self._claimed_unsent)
                and self._woken == self._read_after
            ):
                # Woken by a hand-off the last flush posted already: a flush now would only read an
                # outbox with nothing new in it, on the next acknowledgement's way out.
                continue
            try:
                await self.flush()
            except Exception:
                log.exception("delivering the outbox failed; retrying")

    async def _renew(self) -> None:
        """``renew_lease`` on the database thread; a failure (the database away) is logged once."""
        assert self.renew_lease is not None
        try:
            await self.dispatcher.services.db(self.renew_lease)
        except Exception as exc:
            if not self._lease_failing:
                log.warning("could not renew this worker's lease (%s); trying every poll", exc)
            self._lease_failing = True
        else:
            if self._lease_failing:
                log.info("this worker's lease is renewed")
            self._lease_failing = False

    async def flush(self, *, patient: bool = False) -> int:
        """Deliver everything due, including what follow-ups queue meanwhile; returns how many.

        Sends handed over (``hand``) are posted without reading the outbox; it is read when the
        postman was woken by anything else, when a handed send was not posted (stale, or behind an
        older send of its chat), and when there is nothing handed. A send whose turn under the
        flood limits is more than ``TURN_WAIT`` off is left for later, unless ``patient`` (a clean
        stop delivers what it owes)."""
        async with self._lock:
            self._patient = patient
            try:
                return await self._flush()
            finally:
                self._patient = False

    async def _flush(self) -> int:
        done = 0
        tried: set[int] = set()
        read_needed = False
        services = self.dispatcher.services
        while not self.dispatcher.winding_down:
            read_needed = read_needed or self._woken != self._read_after
            rows = [] if read_needed else self._handed.next_round(tried)
            from_read = not rows
            if from_read:
                self._read_after = self._woken
                self._handed.drop(tried)
                if self._claimed_unsent:
                    await self._forget_lost_claims()
                rows = await self.dispatcher.patiently(
                    "the outbox", lambda: services.db(services.store.outbox_due, OUTBOX_PAGE)
                )
                read_needed = False
                if not rows and not self._handed:
                    return done
            tried.update(row.id for row in rows)
            live = await self._live(rows)
            # Each chat's next send, side by side (the next round reads each chat's next one).
            # Every chat finishes before a failure is raised: a chat still sending when the next
            # flush reads the outbox would find its own claims "sending" and take them for a
            # crash's (uncertain), though they were being posted.
            first = _RepliesFirst(rows)
            results = await asyncio.gather(
                *(self._deliver(row, live, first) for row in rows), return_exceptions=True
            )
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                raise failures[0]
            delivered = sum(1 for r in results if r is True)
            done += delivered
            if self._woken != self._read_after or self._claimed_unsent:
                # Something was queued since the last read (a follow-up's send), or a claim is
                # to be tried again: read the outbox.
                read_needed = True
                continue
            if not from_read:
                # A handed send not posted says the outbox holds something older: read it.
                read_needed = delivered < len(rows)
                if read_needed or self._handed:
                    continue
                return done
            if self._handed:
                continue
            if not delivered:
                return done  # what is left is other workers' to send (or waits for theirs)
            if len(rows) < OUTBOX_PAGE and not any(r.queued_after for r in rows):
                return done  # no chat has another send waiting: the outbox is empty
        return done

    async def _forget_lost_claims(self) -> None:
        """Of the claims lost in an outage keep those that did commit (the row is this worker's
        ``sending``, certainly not sent). The others are pending again or were sent by another
        worker meanwhile; kept, they would make every round read the outbox again, without pause
        while another worker has a send in flight."""
        services = self.dispatcher.services
        ids = list(self._claimed_unsent)
        mine = await self.dispatcher.patiently(
            "the outbox", lambda: services.db(services.store.own_sending, ids, self.worker)
        )
        self._claimed_unsent.difference_update(set(ids) - mine)

    async def _live(self, rows: list[OutboxRecord]) -> set[int]:
        """The live workers, when a row is another worker's ``sending`` one (else no question)."""
        if not any(r.state == "sending" and r.claimed_by not in (None, self.worker) for r in rows):
            return set()
        services = self.dispatcher.services
        return await self.dispatcher.patiently(
            "the workers", lambda: services.db(self.live_workers)
        )

    async def _deliver(self, row: OutboxRecord, live: set[int], first: _RepliesFirst) -> bool:
        """Deliver one row; False when it is not this worker's to send now (another worker claimed
        it, or an older send of its chat is still another worker's). An aside waits for the
        round's replies into chats (``first``)."""
        try:
            return await self._deliver_row(row, live, first)
        finally:
            first.posted(row)

    async def _deliver_row(self, row: OutboxRecord, live: set[int], first: _RepliesFirst) -> bool:
        dispatcher = self.dispatcher
        owner = row.claimed_by
        if row.state == "sending" and owner not in (None, self.worker) and owner in live:
            return False  # a live worker is sending it
        if row.state == "sending" and row.id not in self._claimed_unsent:
            if row.kind == "button":
                await self._answer_button(row)  # harmless to repeat
                return True
            # Claimed by a worker that died: the platform may have it. Never sent again on a guess.
            log.warning("%s was interrupted by a restart; it may not have arrived", _what(row))
            await self._settle(row, Delivered(Delivery.UNCERTAIN, None, row.chat_id), "restart")
            return True
        if row.kind == "button":
            return await _through(self._claim_and_answer(row))
        message = decode_message(row)
        if (
            row.state != "sending"  # one claimed already (a claim lost in an outage) goes now
            and not self._patient
            and (delay := dispatcher.turn_delay(message)) > TURN_WAIT
        ):
            # Its chat's turn is far off: the round's other chats go on; the postman wakes for it.
            loop = asyncio.get_running_loop()
            self._turn_at = min(self._turn_at, loop.time() + delay)
            return False
        # Claimed only once the platform's flood limits let it go: a send waiting for its turn is
        # still pending, so a crash meanwhile leaves it to be sent after the restart, not taken for
        # one that may have arrived (the only sends marked so are those really under way). An aside
        # is claimed with the round's other sends (one commit), then waits for its replies: 50 ms
        # at most, where claiming it after them cost each question a commit of its own.
        async with dispatcher.turn(message):
            return await _through(self._claim_and_post(row, message, first))

    async def _claim_and_answer(self, row: OutboxRecord) -> bool:
        if not await self._claim_row(row):
            return False
        await self._answer_button(replace(row, state="sending", claimed_by=self.worker))
        return True

    async def _claim_and_post(
        self, row: OutboxRecord, message: OutgoingMessage, first: _RepliesFirst
    ) -> bool:
        """Claim the send, post it and record its outcome; False when it is not this worker's to
        send now."""
        if not await self._claim_row(row):
            return False
        row = replace(row, state="sending", claimed_by=self.worker)
        if first.waits(row):
            await first.wait()
        error = ""
        try:
            sent: SentMessage | None = await self.dispatcher.send(message)
            outcome = Delivery.SENT
        except DeliveryUncertain as exc:
            log.warning("%s may not have arrived: %s", _what(row), exc)
            sent, outcome, error = None, Delivery.UNCERTAIN, str(exc)
        except Undeliverable as exc:
            log.warning("could not send %s: %s", _what(row), exc)
            sent, outcome, error = None, Delivery.FAILED, str(exc)
        except Exception as exc:
            log.exception("could not send %s", _what(row))
            sent, outcome, error = None, Delivery.FAILED, f"{type(exc).__name__}: {exc}"
        first.posted(row)
        chat_id = sent.chat_id if sent is not None else row.chat_id
        await self._settle(row, Delivered(outcome, sent, chat_id), error)
        return True

    async def _claim_row(self, row: OutboxRecord) -> bool:
        """Claim ``row`` for this worker (``_claim``): whether it is this worker's to send now. A
        row this worker claimed when the database went away (its claim's commit may have been lost)
        is its own already: it was certainly not sent."""
        if row.state == "sending":
            self._claimed_unsent.discard(row.id)
            return True
        try:
            claimed = await self._claim(row.id)
        except StoreUnavailable:
            self._claimed_unsent.add(row.id)
            raise
        # Read back pending, so a claim lost in an outage did not commit: the row is no longer one
        # this worker claimed without sending (kept, a later "sending" of its own — an outcome not
        # recorded — would be taken for never sent and posted again).
        self._claimed_unsent.discard(row.id)
        return claimed

    async def _claim_all(self, outbox_ids: Sequence[int]) -> list[bool]:
        """Claim the sends (``_claim``) in one write: whether each is this worker's to send now."""
        store = self.dispatcher.services.store
        claimed = await self.dispatcher.write(store.mark_sending_all, outbox_ids, self.worker)
        return [i in claimed for i in outbox_ids]

    async def _answer_button(self, row: OutboxRecord) -> None:
        body = json.loads(row.payload)
        press = ButtonPress(*body["press"])
        try:
            await self.dispatcher.sender_for(row.platform).answer_button(press, body.get("notice"))
            outcome = Delivery.SENT
        except Exception:
            log.exception("could not answer button press %s", press.press_id)
            outcome = Delivery.FAILED
        await self._settle(row, Delivered(outcome, None, row.chat_id), "")

    async def _settle(self, row: OutboxRecord, delivered: Delivered, error: str) -> None:
        """Record the outcome and run the follow-up, in one transaction (waiting out an outage) with
        the outcomes of the sends that finished beside it (``_settle_all``)."""
        await self._settled((row, delivered, error))

    async def _settle_all(self, done: Sequence[Outcome]) -> list[BaseException | None]:
        """Record outcomes and run their follow-ups: one unit of work for the sends of each event (a
        follow-up's sends belong to the event of the send it follows), all the units in one turn of
        the writer (in a burst, a turn each would wait behind a batch of the inbox each). What each
        send came to: None, or the exception raised for it."""
        results: list[BaseException | None] = [None] * len(done)
        by_event: dict[int | None, list[int]] = {}
        for index, (row, _, _) in enumerate(done):
            by_event.setdefault(row.event_id, []).append(index)
        units = [
            (event_id, indexes, [self._settle_step(*done[i]) for i in indexes], [0])
            for event_id, indexes in by_event.items()
        ]
        tried = await self.dispatcher.in_units_on_db_thread(
            [(event_id, self._together(steps, running)) for event_id, _, steps, running in units]
        )
        for (event_id, indexes, steps, running), failure in zip(units, tried, strict=True):
            if failure is None:
                continue
            outcomes = await self._settle_event(
                event_id, [done[i] for i in indexes], steps, failure, running[0]
            )
            for index, result in zip(indexes, outcomes, strict=True):
                results[index] = result
        return results

    @staticmethod
    def _together(steps: Sequence[Step], running: list[int]) -> Step:
        """One unit's job that takes ``steps`` in order (``running[0]``: the step under way)."""

        async def together(work: Work) -> None:
            for at, step in enumerate(steps):
                running[0] = at
                await step(work)

        return together

    async def _settle_event(
        self,
        event_id: int | None,
        done: Sequence[Outcome],
        steps: Sequence[Step],
        failure: Exception,
        failed_at: int,
    ) -> list[BaseException | None]:
        """The sends of one event whose unit ``failure`` rolled back (step ``failed_at`` under way).
        After an outage the unit is tried again, waiting it out. Should a follow-up have failed, that
        send's outcome is left unrecorded (its exception is raised, as if it had been recorded
        alone) and the others are recorded each in a unit of its own."""
        results: list[BaseException | None] = [None] * len(steps)
        if isinstance(failure, StoreUnavailable):
            running = [0]
            what = ", ".join(f"outbox message {row.id}" for row, _, _ in done)
            try:
                await self.dispatcher.in_unit_on_db_thread(
                    what, self._together(steps, running), event_id=event_id
                )
                return results
            except StoreUnavailable as exc:
                return [exc] * len(steps)  # the database stayed away longer than its patience
            except Exception as exc:
                failure, failed_at = exc, running[0]
        results[failed_at] = failure
        for at, ((row, _, _), step) in enumerate(zip(done, steps, strict=True)):
            if results[at] is not None:
                continue
            try:
                # The outcome and follow-up only call the store and queue sends: one hop to the
                # database thread for the whole unit, not one per store call.
                await self.dispatcher.in_unit_on_db_thread(
                    f"outbox message {row.id}", step, event_id=event_id
                )
            except Exception as exc:
                results[at] = exc
        return results

    @staticmethod
    def _settle_step(row: OutboxRecord, delivered: Delivered, error: str) -> Step:
        """Recording one send's outcome and running its follow-up, in a unit of work."""
        follow_up = FollowUp.decode(row.follow_up)
        run = EFFECTS.get(follow_up.name) if follow_up else None
        if follow_up is not None and run is None:
            log.error("%s: no effect is registered as %r", _what(row), follow_up.name)
        sent = delivered.sent

        async def settle(work: Work) -> None:
            settled = await work.db(
                work.store.settle,
                row.id,
                delivered.outcome.value,
                work.now,
                claimed_by=row.claimed_by,
                platform_message_id=sent.message_id if sent else None,
                error=error,
            )
            if not settled:
                # Another worker settled it first (it took this one for dead): its follow-up ran.
                log.warning("%s was settled by another worker", _what(row))
                return
            if run is not None and follow_up is not None:
                await run(work, delivered, follow_up.args)

        return settle
