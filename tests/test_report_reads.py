"""A slow report never holds up the chats: ``/summary`` reads ahead of its unit of work, on the report
thread (``bot.reads``), while the other chats' messages are stored and answered; the supervisor's own
chat keeps its order — also when the read ends in the middle of a batch —, and a failing read ends in
one apology, never a traceback. A finished read is kept while another worker holds its event's row,
not read again. The weekly brief, a timer's unit, reads ahead the same way."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text

import handlers.scheduler as scheduler_module
import handlers.summary as summary_handler
from bot.adapters.memory import MemoryAdapter, Posted
from bot.dispatch import APOLOGY
from bot.events import Received
from bot.reads import KEEP_READS, ReadAhead
from dialogue_support import memory_event
from handlers.scheduler import Scheduler
from storage.models import Message
from tests_support import rows

pytestmark = pytest.mark.asyncio

WAIT = 60.0
"""Seconds a test waits for the background worker at most (it fails then, never hangs)."""


class Gate:
    """Holds every summary read until opened, and notes the threads the reads ran on."""

    def __init__(self, fail: bool = False) -> None:
        self.opened = threading.Event()
        self.started = threading.Event()
        self.threads: list[str] = []
        self.fail = fail
        self.real = summary_handler.read_summary

    def read(self, *args: Any, **kwargs: Any) -> Any:
        self.threads.append(threading.current_thread().name)
        self.started.set()
        if not self.opened.wait(WAIT):
            raise TimeoutError("the test never opened the gate")
        if self.fail:
            raise RuntimeError("the report query failed")
        return self.real(*args, **kwargs)


class Journaling:
    """The platforms' way in: events are journaled; the background worker (running while the
    ``async with`` block does) handles them and the postman delivers to this adapter, whose
    deliveries tests wait for. On leaving, the gate is opened and the worker drained."""

    def __init__(self, chat: Any, gate: Gate) -> None:
        self.dispatcher = chat.app.dispatcher
        self.bot: MemoryAdapter = chat.bot
        self.gate = gate
        self.posted = asyncio.Event()
        self.bot.on_posted = lambda _posted: self.posted.set()  # type: ignore[method-assign]
        self.count = 0
        self.worker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Journaling:
        self.worker = asyncio.create_task(self.dispatcher.run(poll=0.05))
        return self

    async def __aexit__(self, *_: object) -> None:
        self.gate.opened.set()
        await self.dispatcher.drain(5)
        assert self.worker is not None
        await asyncio.wait_for(self.worker, WAIT)

    async def read_started(self) -> None:
        """Wait until a read has reached the gate."""
        loop = asyncio.get_running_loop()
        assert await loop.run_in_executor(None, self.gate.started.wait, WAIT)

    async def say(self, body: str, by: Any, chat: Any) -> None:
        self.count += 1
        event = memory_event(self.bot, body, by, chat, f"u{self.count}")
        await self.dispatcher.receive([Received.of(event)])

    async def until(self, found: Callable[[list[Posted]], bool]) -> list[Posted]:
        """Wait until the bot has posted what ``found`` looks for; the posts so far."""

        async def wait() -> None:
            while not found(self.bot.outbox):
                self.posted.clear()
                await self.posted.wait()

        await asyncio.wait_for(wait(), WAIT)
        return list(self.bot.outbox)

    async def until_acknowledged(self) -> list[Posted]:
        """Wait for the acknowledgement of the group's first question (Q1)."""
        return await self.until(
            lambda out: any("编号 Q1" in p.text for p in out if p.chat_id == "xingfuli")
        )

    async def to_supervisor(self, count: int) -> list[str]:
        """Wait until the supervisor (陈静) has ``count`` messages; their texts."""
        posted = await self.until(
            lambda out: len([p for p in out if p.chat_id == "chenjing"]) == count
        )
        return [p.text for p in posted if p.chat_id == "chenjing"]


async def test_a_report_being_read_holds_up_no_other_chat(chat, monkeypatch):
    gate = Gate()
    monkeypatch.setattr(summary_handler, "read_summary", gate.read)
    async with Journaling(chat, gate) as way_in:
        await way_in.say("/summary 7d", chat.chen, chat.bot.private(chat.chen))
        await way_in.say("统计 今天", chat.chen, chat.bot.private(chat.chen))
        await way_in.read_started()
        # While the report is read, a resident's question is stored, acknowledged and sent to the
        # officials, and an ordinary message is recorded.
        await way_in.say("今天小区停水了吗", chat.liu, chat.group)
        await way_in.say("@政务助手 3号楼电梯坏了三天，什么时候修？", chat.wang, chat.group)
        posted = await way_in.until_acknowledged()
        assert not gate.opened.is_set()
        assert not [p for p in posted if p.chat_id == "chenjing"]  # the report is still being read
        stored = rows(chat.app.store, select(Message.text).order_by(Message.id))
        assert [text for (text,) in stored][-2:] == [
            "今天小区停水了吗",
            "@政务助手 3号楼电梯坏了三天，什么时候修？",
        ]
        gate.opened.set()
        first, second = await way_in.to_supervisor(2)
        # The supervisor's chat keeps its order.
        assert first.startswith("【履职统计·近7天】")
        assert second.startswith("【履职统计·今天】")
        assert set(gate.threads) == {"minyi-report_0"}
    assert await chat.app.dispatcher.drain(1)  # nothing left pending


async def test_a_read_that_keeps_failing_ends_in_one_apology(chat, monkeypatch):
    gate = Gate(fail=True)
    gate.opened.set()
    monkeypatch.setattr(summary_handler, "read_summary", gate.read)
    async with Journaling(chat, gate) as way_in:
        await way_in.say("/summary 7d", chat.chen, chat.bot.private(chat.chen))
        await way_in.say("帮助", chat.chen, chat.bot.private(chat.chen))
        apology, help_text = await way_in.to_supervisor(2)
        assert apology == APOLOGY and "Traceback" not in apology
        assert "/summary" in help_text  # the chat goes on after the poison event, in order
        assert len(gate.threads) == chat.app.dispatcher.max_attempts


async def test_a_scheduled_brief_being_read_holds_up_no_chat(dialogue, clock, monkeypatch):
    chat = dialogue(schedule={"brief": "周一 09:00"})
    gate = Gate()
    gate.real = scheduler_module.brief_text
    monkeypatch.setattr(scheduler_module, "brief_text", gate.read)
    scheduler = Scheduler(chat.app.dispatcher)
    await scheduler.plan()  # Monday 08:30: the brief falls due at 09:00
    clock.advance(minutes=35)
    async with Journaling(chat, gate) as way_in:
        firing = asyncio.create_task(scheduler.run_once())
        await way_in.read_started()
        await way_in.say("@政务助手 3号楼电梯坏了三天，什么时候修？", chat.wang, chat.group)
        posted = await way_in.until_acknowledged()
        assert not [p for p in posted if p.text.startswith("【网情动态】")]
        assert gate.threads == ["minyi-report_0"]
        gate.opened.set()
        [fired] = await asyncio.wait_for(firing, WAIT)
        assert fired.kind == "brief"
        briefs = [p for p in chat.bot.outbox if p.text.startswith("【网情动态】")]
        assert [p.chat_id for p in briefs] == ["chenjing"]  # once, to the supervisor
        assert gate.threads == ["minyi-report_0"] * len(briefs)  # each read once


async def test_a_read_that_ends_in_the_middle_of_a_batch_keeps_its_chats_order(chat, monkeypatch):
    """The report's read ends while a batch is at another chat's message (the event loop is free
    while a batch runs on the database thread): the supervisor's next message, later in that batch,
    still waits for the report."""
    gate = Gate()
    monkeypatch.setattr(summary_handler, "read_summary", gate.read)
    dispatcher = chat.app.dispatcher
    real = dispatcher._dispatch_event

    async def dispatch(work: Any, event: Any, analysis: Any, roles: Any) -> Any:
        if event.text == "今天小区停水了吗":
            gate.opened.set()  # the read ends now, while this batch runs
            deadline = time.monotonic() + WAIT
            while dispatcher.reads.holds(supervisor.key) and time.monotonic() < deadline:
                time.sleep(0.01)  # the database thread; the read's end comes on the event loop
        return await real(work, event, analysis, roles)

    monkeypatch.setattr(dispatcher, "_dispatch_event", dispatch)
    supervisor = chat.bot.private(chat.chen)
    async with Journaling(chat, gate) as way_in:
        await way_in.say("/summary 7d", chat.chen, supervisor)
        await way_in.read_started()
        # Journaled together behind the report: another chat's message, then the supervisor's next.
        between = memory_event(chat.bot, "今天小区停水了吗", chat.liu, chat.group, "u2")
        after = memory_event(chat.bot, "帮助", chat.chen, supervisor, "u3")
        await dispatcher.receive([Received.of(between), Received.of(after)])
        first, second = await way_in.to_supervisor(2)
        assert first.startswith("【履职统计·近7天】"), (first[:20], second[:20])
        assert "/summary" in second


async def test_a_finished_read_is_kept_while_another_worker_holds_its_event(chat, monkeypatch):
    """Another worker's batch has the report's event row locked when the read ends (the inbox
    reads skip locked rows): the result is kept, and the report is read once."""
    engine = chat.app.store.engine
    if engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL's inbox reads skip locked rows (several workers)")
    gate = Gate()
    monkeypatch.setattr(summary_handler, "read_summary", gate.read)
    dispatcher = chat.app.dispatcher
    supervisor = chat.bot.private(chat.chen)
    async with Journaling(chat, gate) as way_in:
        await way_in.say("/summary 7d", chat.chen, supervisor)
        await way_in.read_started()
        other = engine.connect()  # another worker's batch, with the event's row in hand
        other.execute(text("select id from inbox where state = 'pending' for update"))
        gate.opened.set()
        while dispatcher.reads.holds(supervisor.key):
            await asyncio.sleep(0.01)
        await way_in.say("今天小区停水了吗", chat.liu, chat.group)  # batches go on meanwhile
        await dispatcher.process_pending()  # its batch reads the inbox without the report's event
        other.rollback()  # the other worker's batch ends without handling it
        other.close()
        dispatcher._inbox_wake.set()
        (report,) = await way_in.to_supervisor(1)
        assert report.startswith("【履职统计·近7天】")
        assert len(gate.threads) == 1  # read once


async def test_a_finished_read_whose_event_stays_away_is_dropped_in_time(chat):
    """A result whose event the inbox reads no longer show (handled by another worker) is dropped
    once ``KEEP_READS`` have passed, not kept for the process's life."""
    now = [0.0]
    reads = ReadAhead(chat.app.store, concurrent=True, on_done=lambda: None, clock=lambda: now[0])

    async def read(event_id: int) -> None:
        reads.start(event_id, "memory:chenjing", lambda store: f"report {event_id}")
        while reads.holds("memory:chenjing"):
            await asyncio.sleep(0.01)

    try:
        await read(7)
        reads.forget_all_but([])
        now[0] = KEEP_READS - 1
        reads.forget_all_but([8])
        kept = reads.take(7, ())
        assert kept is not None and kept.result() == "report 7"
        await read(9)
        now[0] += KEEP_READS
        reads.forget_all_but([])
        assert reads.take(9, ()) is None
    finally:
        reads.close()
