"""The journal-first pipeline as people would notice it: nothing received is lost or done twice when
handling fails, the database goes away mid-event, or the process restarts; a poison event is set aside
and the next question is answered; routes decide who may use what.

Each test runs on SQLite and on PostgreSQL (the ``chat`` fixture).
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from sqlalchemy import text

from bot.adapters.shared import Turns
from bot.adapters.telegram import FloodLimiter, RateLimits
from bot.events import IncomingMessage, Received, encode_event
from bot.routes import Observer, RouteTable, command
from bot.work import EVERYONE, Role
from dialogue_support import memory_event
from storage import OutboxEntry, Store, StoreUnavailable
from storage.workers import WorkerLease
from tests_support import SteppingClock

WAIT = 30.0
"""Seconds a test waits at most for what another thread does."""

pytestmark = pytest.mark.asyncio

APOLOGY = "抱歉，处理您的消息时出现问题"


def rows(app: Any, sql: str) -> list[Any]:
    """Plain rows of a query, read the way an auditor would."""
    with app.store.engine.connect() as connection:
        return list(connection.execute(text(sql)))


async def handled_question(chat: Any, message_id: str, group: Any = None, by: Any = None) -> Any:
    """Journal and handle a resident's question in the group (``group``, by 王阿姨 unless ``by``),
    its sends left in the outbox; the dispatcher."""
    dispatcher = chat.app.dispatcher
    question = IncomingMessage(
        platform="test",
        chat=group or chat.group,
        sender=by or chat.wang,
        message_id=message_id,
        text="@政务助手 3号楼电梯坏了，什么时候修？",
        sent_at=chat.clock.now,
    )
    await dispatcher.receive([Received.of(question)])
    await dispatcher.process_pending()
    return dispatcher


def lose_claims(monkeypatch: Any, times: int = 1) -> None:
    """The next ``times`` claims of sends meet a database outage before they commit."""
    real = Store.mark_sending_all
    outage = {"left": times}

    def mark_sending_all(self: Store, outbox_ids: Any, worker: int | None = None) -> Any:
        if outage["left"]:
            outage["left"] -= 1
            raise StoreUnavailable("database unavailable: OperationalError")
        return real(self, outbox_ids, worker)

    monkeypatch.setattr(Store, "mark_sending_all", mark_sending_all)


def fail_follow_up(monkeypatch: Any, name: str, times: int = 1, after: bool = False) -> None:
    """The follow-up effect ``name`` raises the next ``times`` times it runs (``after``: once it
    has done its work)."""
    from bot import outbox

    real = outbox.EFFECTS[name]
    failures = {"left": times}

    async def failing(work: Any, delivered: Any, args: Any) -> None:
        if failures["left"]:
            failures["left"] -= 1
            if after:
                await real(work, delivered, args)
            raise RuntimeError("follow-up failed")
        await real(work, delivered, args)

    monkeypatch.setitem(outbox.EFFECTS, name, failing)


def with_observer(chat: Any, name: str, run: Any, applies: Any = lambda ctx: True) -> None:
    """Put an observer in front of the app's own (a fault injected into every unit of work)."""
    table = chat.app.dispatcher.routes
    chat.app.dispatcher.routes = RouteTable(
        (Observer(name, run, applies), *table.observers), table.routes
    )


async def test_a_handler_failing_twice_is_retried_and_nothing_is_done_twice(chat):
    failures = {"left": 2}

    async def flaky(ctx):
        # Fails after the record observer would have stored the message: a rollback must undo it.
        if ctx.message.text.startswith("@政务助手") and failures["left"]:
            failures["left"] -= 1
            await ctx.db(ctx.store.departments)
            raise RuntimeError("transient")

    with_observer(chat, "flaky", flaky)
    posted = await chat.ask("3号楼电梯坏了，什么时候修？")
    assert failures["left"] == 0
    assert [p.text for p in posted if APOLOGY in p.text] == []
    assert len([p for p in posted if "已收到您的问题" in p.text]) == 1
    assert rows(chat.app, "select count(*) from questions")[0][0] == 1
    assert rows(chat.app, "select count(*) from messages")[0][0] == 1
    # A question is group talk, first tried optimistically: that failure rolled back everything it
    # did and was not counted; the careful attempt's was.
    assert rows(chat.app, "select state, attempts from inbox") == [("done", 1)]


async def test_group_talk_failing_in_a_batch_is_retried_and_the_rest_stored_once(chat):
    """Plain group talk runs in an optimistic batch (no savepoint per event). One message's handler
    fails twice: the batch is rolled back whole and run again carefully, the messages before it
    commit once, the failing one is stored once when it succeeds, the rest once after it."""
    failures = {"left": 2}

    async def flaky(ctx):
        if ctx.message.text == "停水了 3" and failures["left"]:
            failures["left"] -= 1
            await ctx.db(ctx.store.departments)
            raise RuntimeError("transient")

    with_observer(chat, "flaky", flaky)
    dispatcher = chat.app.dispatcher
    talk = [
        Received.of(memory_event(chat.bot, f"停水了 {n}", chat.wang, chat.group, f"t{n}"))
        for n in range(1, 7)
    ]
    await dispatcher.receive(talk)
    assert await dispatcher.process_pending() == 6
    stored = rows(chat.app, "select text from messages order by id")
    assert [t for (t,) in stored] == [f"停水了 {n}" for n in range(1, 7)]
    assert failures["left"] == 0
    # The optimistic attempt's failure rolled back everything it did and was not counted; the
    # careful attempt's was, once.
    attempts = rows(chat.app, "select event_key, state, attempts from inbox order by id")
    assert [(state, n) for _, state, n in attempts] == [("done", 0)] * 2 + [("done", 1)] + [
        ("done", 0)
    ] * 3
    assert [p for p in chat.bot.outbox if APOLOGY in p.text] == []


async def test_an_event_that_keeps_failing_becomes_poison_and_the_next_is_answered(chat, caplog):
    async def broken(ctx):
        if "坏消息" in ctx.message.text:
            raise RuntimeError("boom")

    with_observer(chat, "broken", broken)
    posted = await chat.ask("坏消息")
    assert [p.text[:6] for p in posted] == [APOLOGY[:6]]  # one apology, after the last try
    posted = await chat.ask("3号楼电梯坏了，什么时候修？")
    assert any("已收到您的问题" in p.text for p in posted)
    inbox = rows(chat.app, "select event_key, state, attempts from inbox order by id")
    assert [(state, attempts) for _, state, attempts in inbox] == [("poison", 3), ("done", 0)]
    health = chat.app.store.journal_health()
    assert len(health.poison) == 1 and "boom" in health.poison[0][3]
    assert "boom" in caplog.text


async def test_an_unreadable_payload_is_kept_as_poison_and_blocks_nothing(chat):
    dispatcher = chat.app.dispatcher
    await dispatcher.receive(
        [Received.unreadable("test", "update:77", '{"update_id": 77, "message": 5}', "bad message")]
    )
    posted = await chat.ask("3号楼电梯坏了，什么时候修？")
    assert any("编号 Q1" in p.text for p in posted)
    health = chat.app.store.journal_health()
    assert [(key, error) for _, _, key, error in health.poison] == [("update:77", "bad message")]
    assert rows(chat.app, "select raw from inbox where event_key = 'update:77'")[0][0].startswith(
        '{"update_id": 77'
    )


async def test_a_commit_that_fails_leaves_the_event_to_be_handled_again(chat, monkeypatch):
    real_end = Store.end_unit
    cuts = {"left": 1}

    def end_unit(self: Store, commit: bool) -> None:
        if commit and cuts["left"]:
            cuts["left"] -= 1
            real_end(self, False)  # the server went away as the unit committed
            raise StoreUnavailable("database unavailable: OperationalError")
        real_end(self, commit)

    monkeypatch.setattr(Store, "end_unit", end_unit)
    posted = await chat.ask("3号楼电梯坏了，什么时候修？")
    assert cuts["left"] == 0
    # PostgreSQL's sequences do not roll back: the retried unit may number the ticket Q2.
    (number,) = [n for (n,) in rows(chat.app, "select id from questions")]
    assert [p.text for p in posted if "编号" in p.text] == [posted[0].text]
    assert f"编号 Q{number}" in posted[0].text and not any(APOLOGY in p.text for p in posted)
    assert rows(chat.app, "select count(*) from messages")[0][0] == 1


async def test_events_journaled_before_a_crash_are_handled_by_the_next_process(
    app_factory, db_url, clock
):
    from bot.adapters.memory import MemoryAdapter

    first = app_factory(db_url)
    memory = MemoryAdapter(first.dispatcher.handle, clock=clock)
    group, wang = memory.group("幸福里小区", "xingfuli"), memory.person("王阿姨", "wangayi")
    events = [
        Received.of(
            memory_event(memory, f"@政务助手 {n}号楼电梯坏了什么时候修？", wang, group, str(n))
        )
        for n in (1, 2, 3)
    ]
    await first.dispatcher.receive(events)  # journaled, then the process "dies"
    assert rows(first, "select count(*) from inbox where state = 'pending'")[0][0] == 3

    second = app_factory(db_url)
    bot = MemoryAdapter(second.dispatcher.handle, clock=clock)
    second.dispatcher.connect(bot, bot_username="minyi_bot")
    assert await second.dispatcher.process_pending() == 3
    await second.dispatcher.postman.flush()
    acks = [p.text for p in bot.outbox if p.chat_id == "xingfuli"]
    assert [a[:12] for a in acks] == ["已收到您的问题，编号 Q1"[:12]] * 3
    assert [second.store.question(n) is not None for n in (1, 2, 3, 4)] == [True] * 3 + [False]
    await second.dispatcher.receive(events)  # redelivered by the platform: nothing happens twice
    assert await second.dispatcher.process_pending() == 0


async def test_a_send_interrupted_by_a_crash_is_never_repeated_and_the_official_is_told(chat):
    await chat.ask("电梯坏了什么时候修？")
    dispatcher = chat.app.dispatcher
    # The official picks an answer; the process dies just after claiming the send.
    original_flush = dispatcher.postman.flush
    dispatcher.postman.flush = _no_flush  # type: ignore[method-assign]
    await chat.bot.say("/reply Q1 明天上午维修", by=chat.zhang)
    answer_row = rows(
        chat.app, "select id, payload from outbox where state = 'pending' order by id"
    )[0]
    assert "【Q1 答复】" in json.loads(answer_row[1])["text"]
    chat.app.store.mark_sending(answer_row[0])
    dispatcher.postman.flush = original_flush  # type: ignore[method-assign]

    before = len(chat.bot.outbox)
    await dispatcher.postman.flush()  # the next process starts delivering
    after = chat.bot.outbox[before:]
    assert not any("【Q1 答复】" in p.text for p in after)  # never posted on a guess
    told = [p.text for p in after if p.chat_id == "zhangwei"]
    assert len(told) == 1 and "可能未发布成功" in told[0]
    assert chat.app.store.question(1).state == "open"  # not recorded as answered
    assert rows(chat.app, f"select state from outbox where id = {answer_row[0]}") == [
        ("uncertain",)
    ]


async def _no_flush() -> int:
    return 0


async def test_a_database_outage_in_the_middle_of_a_handler_loses_nothing(chat, monkeypatch):
    real_enqueue = Store.enqueue
    outage = {"left": 2}

    def enqueue(self: Store, entries: Any, at: Any) -> Any:
        if outage["left"]:
            outage["left"] -= 1
            raise StoreUnavailable("database unavailable: OperationalError")
        return real_enqueue(self, entries, at)

    monkeypatch.setattr(Store, "enqueue", enqueue)
    monkeypatch.setattr("bot.dispatch.STORE_RETRY_FIRST", 0.01)
    posted = await chat.ask("3号楼电梯坏了，什么时候修？")
    assert outage["left"] == 0
    assert not any(APOLOGY in p.text for p in posted)
    assert len([p for p in posted if "已收到您的问题" in p.text]) == 1
    assert rows(chat.app, "select count(*) from messages")[0][0] == 1
    assert rows(chat.app, "select count(*) from questions")[0][0] == 1
    assert rows(chat.app, "select state, attempts from inbox") == [("done", 0)]


async def test_each_command_answers_to_the_roles_its_route_declares(chat):
    posted = await chat.bot.say("/digest", by=chat.wang)
    assert "仅限工作人员" in posted[0].text  # as declared: staff only
    assert "/digest" not in (await chat.bot.say("/help", by=chat.wang))[0].text

    dispatcher = chat.app.dispatcher
    table = dispatcher.routes
    opened = tuple(
        command("digest", r.handler, roles=EVERYONE) if r.command == "digest" else r
        for r in table.routes
    )
    dispatcher.routes = RouteTable(table.observers, opened)
    assert Role.RESIDENT in dispatcher.routes.roles_of("digest")
    assert "/digest" in (await chat.bot.say("/help", by=chat.wang))[0].text
    menu = {m.name: m for m in dispatcher.routes.menu()}
    assert menu["digest"].in_groups
    assert not {m.name: m for m in table.menu()}["digest"].in_groups


async def test_the_command_menu_and_help_come_from_the_route_table(chat):
    table = chat.app.dispatcher.routes
    menu = {m.name: m for m in table.menu()}
    assert menu["status"].in_groups and menu["status"].in_private
    assert not menu["reply"].in_groups and menu["reply"].in_private
    assert "rate" not in menu  # no menu entry in the command table
    everyone, staff, supervisors = table.usage(Role.SUPERVISOR)
    assert any("/status" in line for line in everyone) and any("/reply" in line for line in staff)
    assert any("/summary" in line for line in supervisors)
    assert not table.usage(Role.OFFICIAL)[2]


async def test_an_unknown_role_is_refused_once_and_nothing_changes(chat):
    posted = await chat.bot.say("/summary 7d", by=chat.zhang)
    assert [p.text for p in posted] == [
        "抱歉，该命令仅限督查人员使用。发送「帮助」查看您可以使用的命令。"
    ]
    posted = await chat.bot.say("/reply Q1 随便答", by=chat.wang, chat=chat.group)
    assert len(posted) == 1 and "仅限工作人员" in posted[0].text
    assert rows(chat.app, "select count(*) from engagements")[0][0] == 0


async def test_background_worker_handles_what_adapters_journal(chat):
    dispatcher = chat.app.dispatcher
    worker = asyncio.create_task(dispatcher.run(poll=0.05))
    try:
        event = memory_event(chat.bot, "@政务助手 电梯坏了什么时候修？", chat.wang, chat.group, "9")
        await dispatcher.receive([Received.of(event)])
        for _ in range(200):
            if any("编号 Q1" in p.text for p in chat.bot.outbox):
                break
            await asyncio.sleep(0.05)
        assert any("编号 Q1" in p.text for p in chat.bot.outbox)
    finally:
        await dispatcher.drain(5)  # the clean stop: the worker ends by itself
        await asyncio.wait_for(worker, 10)


async def test_a_chat_still_sending_when_another_fails_is_not_taken_for_a_crash(
    chat, monkeypatch, caplog
):
    """A question's acknowledgement (group) and alert (private) go out side by side. When a claim
    meets a database outage, any other chat's send in flight finishes and is recorded before the
    failure is raised (the claims of one round share a transaction, so here neither was claimed):
    the next delivery round must not find a send "sending" and call it uncertain."""
    real_send = chat.bot.send

    async def slow_send(message: Any) -> Any:
        await asyncio.sleep(0.3)  # a platform call in flight while the other chat fails
        return await real_send(message)

    lose_claims(monkeypatch)
    monkeypatch.setattr(chat.bot, "send", slow_send)
    dispatcher = await handled_question(chat, "q-side-by-side")
    with pytest.raises(StoreUnavailable):
        await dispatcher.postman.flush()
    await dispatcher.postman.flush()  # the database is back
    assert "interrupted by a restart" not in caplog.text
    states = sorted(state for (state,) in rows(chat.app, "select state from outbox"))
    assert states == ["sent", "sent"]
    assert len([p for p in chat.bot.outbox if "已收到您的问题" in p.text]) == 1


async def test_a_claim_lost_in_an_outage_then_made_does_not_make_a_later_send_look_unsent(
    chat, monkeypatch
):
    """A claim meets an outage before it commits, then the sends are claimed and posted; later the
    acknowledgement's outcome is not recorded (its follow-up fails). The next round finds it
    "sending": it may have arrived, so it is recorded uncertain — the lost claim of long ago must
    not make it look certainly unsent and post it a second time."""
    lose_claims(monkeypatch)
    fail_follow_up(monkeypatch, "ask.acknowledged")
    dispatcher = await handled_question(chat, "q-lost-claim")
    with pytest.raises(StoreUnavailable):
        await dispatcher.postman.flush()
    with pytest.raises(RuntimeError, match="follow-up failed"):
        await dispatcher.postman.flush()
    await dispatcher.postman.flush()
    assert len([p for p in chat.bot.outbox if "已收到您的问题" in p.text]) == 1
    by_chat = dict(rows(chat.app, "select chat_id, state from outbox"))
    assert by_chat[chat.group.chat_id] == "uncertain"


def _several_workers(chat: Any) -> None:
    if chat.app.store.engine.dialect.name != "postgresql":
        pytest.skip("several workers share one PostgreSQL (one worker per SQLite file)")


async def test_a_claim_lost_then_sent_by_another_worker_does_not_keep_the_postman_reading(
    chat, clock, monkeypatch
):
    """Several workers: this worker's claim meets an outage, then another worker posts those sends
    and has one of its own in flight. This worker's next delivery ends at once: it does not read the
    outbox again and again, as if its lost claims were still to be tried."""
    _several_workers(chat)
    app, store = chat.app, chat.app.store
    app.register_worker()
    other = WorkerLease.take(store.engine, clock())
    try:
        dispatcher = await handled_question(chat, "q-taken-over")
        lose_claims(monkeypatch)
        postman = dispatcher.postman
        postman._read_after = postman._woken  # as after an earlier read: the hand-off goes unread
        with pytest.raises(StoreUnavailable):
            await postman.flush()
        for (send,) in rows(app, "select id from outbox where state = 'pending' order by id"):
            assert store.mark_sending(send, other.id)
            assert store.settle(send, "sent", clock(), claimed_by=other.id, platform_message_id="m")
        (flight,) = store.enqueue([OutboxEntry("test", "g9", "message", '{"text": "x"}')], clock())
        assert store.mark_sending(flight, other.id)
        reads = []
        real = store.outbox_due
        monkeypatch.setattr(store, "outbox_due", lambda *a: reads.append(a) or real(*a))
        assert await asyncio.wait_for(postman.flush(), 10) == 0
        assert len(reads) <= 2, f"the outbox was read {len(reads)} times"
    finally:
        other.release()


async def test_a_worker_that_lost_its_lease_connection_is_alive_again_within_a_poll(chat, clock):
    """Several workers: a worker's lease connection is dropped (a server restart, an idle-session
    timeout) while the worker runs on, so the others would take its sends in flight for a crash's.
    Its postman checks the lease every poll and takes its lock again."""
    _several_workers(chat)
    app = chat.app
    app.register_worker()
    assert app.lease is not None
    other = WorkerLease.take(app.store.engine, clock())
    lease = app.lease._connection
    assert lease is not None
    pid = lease.execute(text("select pg_backend_pid()")).scalar_one()
    lease.commit()
    with app.store.engine.connect() as admin:
        admin.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
        admin.commit()
    try:
        for _ in range(100):  # the server lets the lock go as the backend ends
            if app.lease.id not in other.live():
                break
            await asyncio.sleep(0.02)
        assert app.lease.id not in other.live()
        worker = asyncio.create_task(app.dispatcher.run(poll=0.05))
        for _ in range(200):
            if app.lease.id in other.live():
                break
            await asyncio.sleep(0.02)
        assert app.lease.id in other.live()
        await app.dispatcher.drain(5)
        await asyncio.wait_for(worker, 10)
    finally:
        other.release()


async def test_a_delivery_cancelled_while_it_claims_still_posts_and_records_the_sends(
    chat, monkeypatch
):
    """A stop cancels the tasks that deliver (the reminders', the console's) while a claim is being
    written: the claim commits all the same, so its sends are posted and recorded before the
    cancellation goes on — not left "sending", to be taken at the next start for sends that may have
    arrived and never sent."""
    claiming, go_on = threading.Event(), threading.Event()
    real = Store.mark_sending_all

    def slow_claim(self: Store, outbox_ids: Any, worker: int | None = None) -> Any:
        claiming.set()
        go_on.wait(WAIT)  # the claim waits behind a batch of the inbox, or a slow commit
        return real(self, outbox_ids, worker)

    monkeypatch.setattr(Store, "mark_sending_all", slow_claim)
    dispatcher = await handled_question(chat, "q-cancelled")
    delivery = asyncio.create_task(dispatcher.postman.flush())
    assert await asyncio.get_running_loop().run_in_executor(None, claiming.wait, WAIT)
    delivery.cancel()  # the stop
    await asyncio.sleep(0)  # the cancellation reaches the delivery before the claim is done
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await delivery
    assert sorted(state for (state,) in rows(chat.app, "select state from outbox")) == [
        "sent",
        "sent",
    ]
    assert len([p for p in chat.bot.outbox if "已收到您的问题" in p.text]) == 1


def limited_like_telegram(chat: Any, monkeypatch: Any, limiter: FloodLimiter) -> list[Any]:
    """The memory adapter under ``limiter`` as the Telegram adapter is (turns taken ahead, a send
    in its turn using its slot); the (chat, limiter's time) of each send."""
    turns = Turns()
    real_send = chat.bot.send
    posted: list[tuple[str, float]] = []

    def in_group(message: Any) -> bool:
        return str(message.chat_id).startswith("-")

    def turn(message: Any) -> Any:
        def acquire(taken: Any) -> Any:
            return limiter.acquire(message.chat_id, group=in_group(message), taken=taken)

        return turns.hold(message.chat_id, acquire)

    async def send(message: Any) -> Any:
        if not turns.take(message.chat_id):
            await limiter.acquire(message.chat_id, group=in_group(message))
        posted.append((message.chat_id, limiter.overall.now()))
        return await real_send(message)

    monkeypatch.setattr(chat.bot, "turn", turn)
    monkeypatch.setattr(chat.bot, "send", send)
    monkeypatch.setattr(
        chat.bot, "turn_delay", lambda m: limiter.delay(m.chat_id, group=in_group(m))
    )
    return posted


def queued(chat: Any, *sends: tuple[str, str]) -> None:
    """``(chat id, text)`` sends queued in the outbox, in order."""
    entries = [
        OutboxEntry(
            "test", chat_id, "message",
            json.dumps({"platform": "test", "chat_id": chat_id, "text": text}),
        )
        for chat_id, text in sends
    ]  # fmt: skip
    chat.app.services.store.enqueue(entries, chat.clock.now)


async def test_a_rate_limited_group_holds_up_only_itself(chat, monkeypatch):
    """One group's turn under the flood limits is a minute off: the delivery round does not wait
    for it — the other chats' sends go out now, the group's wait for their turns (a clean stop,
    ``patient``, waits for them)."""
    clock = SteppingClock()
    limits = RateLimits(per_group=1, per_group_window=60.0, margin=0)
    posted = limited_like_telegram(
        chat, monkeypatch, FloodLimiter(limits, clock=clock, sleep=clock.sleep)
    )
    group, private = "-100busy", "zhangwei"
    queued(chat, *[(group, f"群{i}") for i in range(3)], *[(private, f"私{i}") for i in range(3)])
    postman = chat.app.dispatcher.postman
    assert await postman.flush() == 4  # the group's first and the private chat's three
    assert sorted(posted) == [(group, 1000.0)] + [(private, 1000.0)] * 3
    assert await postman.flush(patient=True) == 2
    assert [at for chat_id, at in posted if chat_id == group] == [1000.0, 1060.0, 1120.0]
    assert [p.text for p in chat.bot.outbox if p.chat_id == group] == ["群0", "群1", "群2"]


async def test_a_send_left_for_its_turn_goes_out_when_the_turn_comes(chat, monkeypatch):
    """The running postman wakes for a send it left for its turn, not at its next poll."""
    limits = RateLimits(per_group=1, per_group_window=0.3, margin=0)
    posted = limited_like_telegram(chat, monkeypatch, FloodLimiter(limits))
    queued(chat, ("-100busy", "群0"), ("-100busy", "群1"))
    dispatcher = chat.app.dispatcher
    runner = asyncio.create_task(dispatcher.run(poll=WAIT))  # polls too seldom to find it
    dispatcher.postman.wake()
    try:
        for _ in range(int(WAIT / 0.02)):
            if len(posted) == 2:
                break
            await asyncio.sleep(0.02)
        (_, first), (_, second) = posted
        assert 0.25 <= second - first < WAIT / 2  # its turn: the window after the first (0.3 s)
    finally:
        await dispatcher.drain(5)
        await asyncio.wait_for(runner, WAIT)


async def test_a_claim_lost_but_made_goes_out_in_its_turn_without_reading_again(chat, monkeypatch):
    """A claim commits but its answer is lost in an outage: the send is this worker's "sending"
    and certainly not sent. In a group whose turn is far off it waits for its turn in the round
    (it is claimed already) instead of being left, and read, again and again."""
    clock = SteppingClock()
    limits = RateLimits(per_group=1, per_group_window=60.0, margin=0)
    posted = limited_like_telegram(
        chat, monkeypatch, FloodLimiter(limits, clock=clock, sleep=clock.sleep)
    )
    queued(chat, ("-100busy", "群0"))
    real = Store.mark_sending_all
    lost = {"left": 1}

    def claim_then_lose_the_answer(self: Store, ids: Any, worker: int | None = None) -> Any:
        claimed = real(self, ids, worker)
        if lost["left"]:
            lost["left"] -= 1
            raise StoreUnavailable("database unavailable: OperationalError")
        return claimed

    monkeypatch.setattr(Store, "mark_sending_all", claim_then_lose_the_answer)
    postman = chat.app.dispatcher.postman
    with pytest.raises(StoreUnavailable):
        await postman.flush()  # the group's slot of this minute went with the lost claim
    assert rows(chat.app, "select state from outbox") == [("sending",)]
    store = chat.app.services.store
    reads: list[Any] = []
    real_due = store.outbox_due
    monkeypatch.setattr(store, "outbox_due", lambda *a: reads.append(a) or real_due(*a))
    assert await asyncio.wait_for(postman.flush(), WAIT) == 1
    assert posted == [("-100busy", 1060.0)]  # in its turn, a minute on
    assert len(reads) <= 2


async def test_a_send_that_fails_after_its_delivery_was_cancelled_is_logged(
    chat, monkeypatch, caplog
):
    """A delivery cancelled while it posts (a stop) sees the send through; should recording it
    fail then, the error is logged — nobody awaits that send any more."""
    fail_follow_up(monkeypatch, "ask.acknowledged")
    real_send = chat.bot.send
    sending, go_on = asyncio.Event(), asyncio.Event()

    async def slow_send(message: Any) -> Any:
        sending.set()
        await go_on.wait()
        return await real_send(message)

    monkeypatch.setattr(chat.bot, "send", slow_send)
    dispatcher = await handled_question(chat, "q-cancel-fail")
    delivery = asyncio.create_task(dispatcher.postman.flush())
    await sending.wait()
    delivery.cancel()
    await asyncio.sleep(0)
    go_on.set()
    with pytest.raises(asyncio.CancelledError):
        await delivery
    logged = [r for r in caplog.records if "after its delivery was cancelled" in r.getMessage()]
    assert logged and "follow-up failed" in str(logged[0].exc_info[1])


async def test_a_follow_up_that_fails_leaves_the_other_sends_outcome_recorded(chat, monkeypatch):
    """The acknowledgement and the alert finish together and their outcomes are recorded together.
    When the acknowledgement's follow-up fails, the alert is still recorded as sent (its suggestions
    can be picked by number), and the acknowledgement is treated as any send whose outcome was not
    recorded: uncertain, never posted twice."""
    fail_follow_up(monkeypatch, "ask.acknowledged")
    dispatcher = await handled_question(chat, "q-follow-up-fails")
    with pytest.raises(RuntimeError, match="follow-up failed"):
        await dispatcher.postman.flush()
    await dispatcher.postman.flush()
    by_chat = dict(rows(chat.app, "select chat_id, state from outbox"))
    assert by_chat == {chat.group.chat_id: "uncertain", "zhangwei": "sent"}
    assert rows(chat.app, "select count(*) from suggestions")[0][0] > 0
    assert len([p for p in chat.bot.outbox if "已收到您的问题" in p.text]) == 1
    assert len([p for p in chat.bot.outbox if "【新问题" in p.text]) == 1


async def test_a_follow_up_that_fails_is_undone_alone_among_the_rounds_other_events(
    chat, monkeypatch
):
    """Two residents' questions in two groups: their acknowledgements and alerts go out in one
    round and their outcomes are recorded together. The first acknowledgement's follow-up fails
    after doing its work, when tried together with the others and when tried again in a savepoint
    of its own: its work is undone (no acknowledgement remembered, the send uncertain), while the
    other question's outcomes and follow-ups are all recorded."""
    fail_follow_up(monkeypatch, "ask.acknowledged", times=2, after=True)
    await handled_question(chat, "q-first")
    dispatcher = await handled_question(chat, "q-second", chat.other_group, chat.liu)
    with pytest.raises(RuntimeError, match="follow-up failed"):
        await dispatcher.postman.flush()
    await dispatcher.postman.flush()
    by_chat = dict(rows(chat.app, "select chat_id, state from outbox"))
    assert by_chat == {
        chat.group.chat_id: "uncertain",
        chat.other_group.chat_id: "sent",
        "zhangwei": "sent",
        "lina": "sent",
    }
    acknowledged = rows(
        chat.app,
        "select m.chat_id, q.ack_platform_message_id is not null,"
        " (select count(*) from ticket_steps s where s.question_id = q.id and s.kind = 'acknowledged')"
        " from questions q join messages m on m.id = q.message_id order by q.id",
    )
    assert acknowledged == [(chat.group.chat_id, False, 0), (chat.other_group.chat_id, True, 1)]


async def test_a_follow_up_that_fails_once_in_a_shared_round_is_recorded_when_tried_again(
    chat, monkeypatch
):
    """Two questions' outcomes in one round, the first acknowledgement's follow-up failing once:
    the round is rolled back and tried again, a savepoint per question, and this time every send is
    recorded sent and both questions remember their acknowledgement (alone in its round, a failing
    follow-up is not tried again: the test above)."""
    fail_follow_up(monkeypatch, "ask.acknowledged")
    await handled_question(chat, "q-once")
    dispatcher = await handled_question(chat, "q-fine", chat.other_group, chat.liu)
    assert await dispatcher.postman.flush() == 4
    assert {state for (state,) in rows(chat.app, "select state from outbox")} == {"sent"}
    acknowledged = rows(
        chat.app, "select count(*) from questions where ack_platform_message_id is not null"
    )
    assert acknowledged == [(2,)]


async def test_a_unit_refused_when_its_savepoint_is_released_is_undone_alone(chat, monkeypatch):
    """Two questions' outcomes in one round, the first unit refused by the database as its
    savepoint is released (what a flush found wrong): the other question's sends and follow-ups are
    recorded all the same, not left ``sending`` for a restart's ``uncertain``; of the first, only the
    send whose step was under way is left uncertain, as when a follow-up fails."""
    fail_follow_up(monkeypatch, "ask.acknowledged")  # the round runs again, a savepoint per unit
    real = Store.end_savepoint
    refusals = {"left": 1}

    def end_savepoint(self: Store, savepoint: Any, keep: bool) -> None:
        if keep and refusals["left"]:
            refusals["left"] -= 1
            raise RuntimeError("refused as the savepoint was released")
        real(self, savepoint, keep)

    await handled_question(chat, "q-refused")
    dispatcher = await handled_question(chat, "q-kept", chat.other_group, chat.liu)
    monkeypatch.setattr(Store, "end_savepoint", end_savepoint)
    with pytest.raises(RuntimeError, match="savepoint"):
        await dispatcher.postman.flush()
    await dispatcher.postman.flush()
    by_chat = dict(rows(chat.app, "select chat_id, state from outbox"))
    assert by_chat[chat.other_group.chat_id] == by_chat["lina"] == "sent"
    assert sorted(by_chat.values()) == ["sent", "sent", "sent", "uncertain"]
    acknowledged = rows(
        chat.app,
        "select m.chat_id from questions q join messages m on m.id = q.message_id"
        " where q.ack_platform_message_id is not null",
    )
    assert (chat.other_group.chat_id,) in acknowledged


async def test_a_rounds_outcomes_are_recorded_in_one_commit(chat, monkeypatch):
    """The outcomes of a delivery round's sends, for several events, commit together: delivering
    two questions' acknowledgements and alerts (one round: four chats) costs one claim and one unit
    of work, not one unit per question."""
    await handled_question(chat, "q-one")
    dispatcher = await handled_question(chat, "q-two", chat.other_group, chat.liu)
    calls = {"claims": 0, "units": 0}
    claim, end_unit = Store.mark_sending_all, Store.end_unit

    def mark_sending_all(self: Store, outbox_ids: Any, worker: int | None = None) -> Any:
        calls["claims"] += 1
        return claim(self, outbox_ids, worker)

    def counted_end_unit(self: Store, commit: bool) -> None:
        calls["units"] += commit
        end_unit(self, commit)

    monkeypatch.setattr(Store, "mark_sending_all", mark_sending_all)
    monkeypatch.setattr(Store, "end_unit", counted_end_unit)
    assert await dispatcher.postman.flush() == 4
    assert calls == {"claims": 1, "units": 1}
    assert {state for (state,) in rows(chat.app, "select state from outbox")} == {"sent"}


async def test_events_journaled_once_the_inbox_is_empty_are_handed_over_in_order(chat, monkeypatch):
    """Once the inbox is empty, what the dispatcher journals next is handed to the batch without
    reading the inbox; an event journaled behind its back (another process) before it, in the same
    chat, still goes first: the claim skips the later one, and the inbox is read."""
    from storage import InboxEntry

    dispatcher = chat.app.dispatcher
    store = chat.app.services.store
    assert await dispatcher.process_pending() == 0  # the inbox is empty
    reads = []
    real = store.pending_events
    monkeypatch.setattr(store, "pending_events", lambda *a: reads.append(a) or real(*a))
    first = memory_event(
        chat.bot, "@政务助手 3号楼电梯坏了，什么时候修？", chat.wang, chat.group, "h1"
    )
    await dispatcher.receive([Received.of(first)])
    assert await dispatcher.process_pending() == 1
    assert reads == []
    # Behind the dispatcher's back: another process journals a message of the same chat.
    older = memory_event(chat.bot, "楼下又在施工", chat.wang, chat.group, "h2")
    received = Received.of(older)
    store.journal(
        [InboxEntry("test", received.key, received.chat_key, encode_event(older))],
        chat.clock.now,
    )
    later = memory_event(chat.bot, "噪音太大了", chat.wang, chat.group, "h3")
    await dispatcher.receive([Received.of(later)])
    assert await dispatcher.process_pending() == 2
    assert reads  # the hand-off fell short: the inbox was read
    stored = rows(chat.app, "select text from messages order by id")
    assert [t for (t,) in stored][-2:] == ["楼下又在施工", "噪音太大了"]


async def test_a_batchs_sends_go_out_in_order_without_reading_the_outbox(chat, monkeypatch):
    """Two questions handled in one batch hand four sends over (two acknowledgements in the group,
    two alerts to the official): the postman posts every one once, each chat's in the order queued,
    the later ones in later rounds, and reads the outbox for none of them."""
    dispatcher = chat.app.dispatcher
    store = chat.app.services.store
    questions = [
        memory_event(
            chat.bot, "@政务助手 3号楼电梯坏了，什么时候修？", chat.wang, chat.group, "qa"
        ),
        memory_event(chat.bot, "@政务助手 小区门口路灯不亮，谁管？", chat.wang, chat.group, "qb"),
    ]
    assert await dispatcher.postman.flush() == 0  # a running postman's first read, at start
    await dispatcher.receive([Received.of(q) for q in questions])
    assert await dispatcher.process_pending() == 2
    assert len(dispatcher.postman._handed) == 4
    reads = []
    real = store.outbox_due
    monkeypatch.setattr(store, "outbox_due", lambda *a: reads.append(a) or real(*a))
    assert await dispatcher.postman.flush() == 4
    acks = [p for p in chat.to(chat.group.chat_id) if "已收到您的问题" in p.text]
    assert [p.message.reply_to_message_id for p in acks] == ["qa", "qb"]
    alerts = [p.text for p in chat.bot.outbox if p.chat_id == "zhangwei"]
    assert len(alerts) == 2 and "电梯" in alerts[0] and "路灯" in alerts[1]
    assert reads == []
    assert rows(chat.app, "select state, count(*) from outbox group by state") == [("sent", 4)]


async def test_the_running_postman_does_not_read_the_outbox_for_sends_handed_over(
    chat, monkeypatch
):
    """The postman runs in the background (``minyi run``): a batch's sends handed over while it is
    posting the last batch's are posted in the same flush, and the wake-up they left behind does not
    send it to read an outbox that holds nothing new (a read on the next acknowledgement's way)."""
    dispatcher = chat.app.dispatcher
    postman = dispatcher.postman
    store = chat.app.services.store
    assert await postman.flush() == 0  # a running postman's first read, at start
    reads = []
    real_due = store.outbox_due
    monkeypatch.setattr(store, "outbox_due", lambda *a: reads.append(a) or real_due(*a))
    release = asyncio.Event()
    real_send = chat.bot.send

    async def held_send(message: Any) -> Any:
        await release.wait()  # the first batch's sends are in flight while the second is handled
        return await real_send(message)

    monkeypatch.setattr(chat.bot, "send", held_send)
    running = asyncio.create_task(postman.run(poll=60))
    try:
        for key, group in (("r1", chat.group), ("r2", chat.other_group)):
            question = memory_event(
                chat.bot, "@政务助手 电梯坏了，什么时候修？", chat.wang, group, key
            )
            await dispatcher.receive([Received.of(question)])
            assert await dispatcher.process_pending() == 1
            for _ in range(5):
                await asyncio.sleep(0)
        release.set()
        # Until the four are posted and their outcomes committed (on the database thread, which
        # a loaded machine may keep a while); the postman keeps running meanwhile.
        for _ in range(500):
            await asyncio.sleep(0.01)
            if len(chat.bot.outbox) == 4 and rows(
                chat.app, "select state, count(*) from outbox group by state"
            ) == [("sent", 4)]:
                break
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert len([p for p in chat.bot.outbox if "已收到您的问题" in p.text]) == 2
    assert rows(chat.app, "select state, count(*) from outbox group by state") == [("sent", 4)]
    assert reads == []


async def test_the_residents_acknowledgement_is_posted_before_the_officials_alert(
    chat, monkeypatch
):
    """One round holds a question's acknowledgement (in the group) and the official's alert
    (private): the platform gets the acknowledgement first and the alert only once it is posted,
    so the resident waiting in the group does not share the connection with the alert."""
    calls: list[tuple[str, str]] = []
    real = chat.bot.send

    async def slow_send(message: Any) -> Any:
        calls.append(("start", message.chat_id))
        for _ in range(5):  # a platform call takes turns of the event loop
            await asyncio.sleep(0)
        sent = await real(message)
        calls.append(("posted", message.chat_id))
        return sent

    monkeypatch.setattr(chat.bot, "send", slow_send)
    await handled_question(chat, "q-first")
    await chat.app.dispatcher.postman.flush()
    group = chat.group.chat_id
    assert calls == [
        ("start", group),
        ("posted", group),
        ("start", "zhangwei"),
        ("posted", "zhangwei"),
    ]


async def test_a_send_waiting_for_its_turn_under_the_flood_limits_is_not_yet_claimed(
    chat, monkeypatch
):
    """A send queued behind the platform's flood limits (a group's 20 a minute on Telegram) waits for
    its turn still pending: were the process to die meanwhile, it would be sent after the restart
    instead of being reported as one that may not have arrived. When its turn comes it is claimed
    and posted."""
    import contextlib

    turn_comes = asyncio.Event()
    waiting: list[str] = []

    @contextlib.asynccontextmanager
    async def turn(message: Any) -> Any:
        waiting.append(message.chat_id)
        await turn_comes.wait()
        yield

    monkeypatch.setattr(chat.bot, "turn", turn)
    dispatcher = await handled_question(chat, "q-turn")
    flush = asyncio.create_task(dispatcher.postman.flush())
    for _ in range(500):  # the outbox is read on the database thread first
        await asyncio.sleep(0.01)
        if waiting:
            break
    assert waiting[0] == chat.group.chat_id  # the acknowledgement waits for its turn
    assert rows(chat.app, "select state, count(*) from outbox group by state") == [("pending", 2)]
    assert chat.bot.outbox == []
    turn_comes.set()
    await flush
    assert rows(chat.app, "select state, count(*) from outbox group by state") == [("sent", 2)]
    assert len([p for p in chat.bot.outbox if "已收到您的问题" in p.text]) == 1


async def test_sends_handed_to_the_postman_go_out_once_and_in_their_chats_order(chat):
    """A batch hands its committed sends to the postman, which posts them without reading the
    outbox first; a hand-off that is stale (the send went out already) or that skips an older send
    of its chat posts nothing twice and nothing out of order."""
    from storage import OutboxEntry

    dispatcher = await handled_question(chat, "q-handed")
    handed = list(dispatcher.postman._handed)
    assert {r.chat_id for r in handed} == {chat.group.chat_id, "zhangwei"}
    await dispatcher.postman.flush()
    assert not dispatcher.postman._handed
    posted = [p.text for p in chat.bot.outbox]
    assert sum("已收到您的问题" in t for t in posted) == 1
    # The same sends handed again (a round that read them first already posted them).
    dispatcher.postman.hand(handed)
    await dispatcher.postman.flush()
    assert [p.text for p in chat.bot.outbox] == posted
    # Two sends queued in one chat, only the later one handed over: the older goes first.
    store = chat.app.services.store
    entries = [
        OutboxEntry(
            "test", "g9", "message", json.dumps({"platform": "test", "chat_id": "g9", "text": text})
        )
        for text in ("先", "后")
    ]
    older, later = store.enqueue(entries, chat.clock.now)
    dispatcher.postman.hand([entries[1].queued_as(later)])
    await dispatcher.postman.flush()
    assert [p.text for p in chat.bot.outbox if p.chat_id == "g9"] == ["先", "后"]
    assert rows(chat.app, f"select state from outbox where id in ({older}, {later})") == [
        ("sent",),
        ("sent",),
    ]
