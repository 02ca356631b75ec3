"""Group commit: many journaled events are handled in one transaction, a savepoint each, and it shows
nowhere but in the speed — a failing handler undoes only its own event, an outage mid-batch undoes the
batch and it is done again once, a reply goes out without waiting for the rest, and who is an official
is known from the event after a /bind in the same batch — and only from then on, also when the batch
is done again. A COMMIT lost in an outage leaves no remembered row behind for the retry.

Each test runs on SQLite and on PostgreSQL (the ``chat`` fixture).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import bot.dispatch
from bot.events import Received
from bot.routes import Observer, RouteTable
from storage import Store, StoreConflict, StoreUnavailable
from test_pipeline import APOLOGY, memory_event

pytestmark = pytest.mark.asyncio


def rows(app: Any, sql: str) -> list[Any]:
    with app.store.engine.connect() as connection:
        return list(connection.execute(text(sql)))


def in_front(chat: Any, run: Any) -> None:
    """An observer in front of the app's own, on every event."""
    table = chat.app.dispatcher.routes
    chat.app.dispatcher.routes = RouteTable(
        (Observer("injected", run, lambda ctx: True), *table.observers), table.routes
    )


async def journal(chat: Any, bodies: list[str], by: Any = None) -> None:
    """The group's messages journaled together, as an adapter hands over a batch of updates."""
    events = [
        Received.of(memory_event(chat.bot, body, by or chat.wang, chat.group, f"m{i}"))
        for i, body in enumerate(bodies)
    ]
    await chat.app.dispatcher.receive(events)


async def test_a_failing_event_in_a_batch_undoes_only_itself(chat):
    bodies = [f"今天{n}号楼又停水了" for n in range(6)]
    bodies[3] = "坏消息 水管爆了"

    async def broken(ctx):
        if "坏消息" in ctx.message.text:
            await ctx.db(ctx.store.departments)
            raise RuntimeError("boom")

    in_front(chat, broken)
    await journal(chat, bodies)
    await chat.app.dispatcher.process_pending()
    await chat.app.dispatcher.postman.flush()
    stored = [t for (t,) in rows(chat.app, "select text from messages order by id")]
    assert stored == [b for b in bodies if "坏消息" not in b]  # in order, each once
    inbox = rows(chat.app, "select event_key, state, attempts from inbox order by id")
    assert [(state, attempts) for _, state, attempts in inbox] == [("done", 0)] * 3 + [
        ("poison", 3)
    ] + [("done", 0)] * 2
    assert [p.text[:6] for p in chat.to("xingfuli")] == [APOLOGY[:6]]  # one apology


def fail_at(chat: Any, prefix: str, error: Exception, times: int) -> dict[str, int]:
    """Handling a message starting with ``prefix`` raises ``error`` the first ``times`` times; the
    count of failures left."""
    left = {"left": times}

    async def failing(ctx):
        if ctx.message.text.startswith(prefix) and left["left"]:
            left["left"] -= 1
            raise error

    in_front(chat, failing)
    return left


async def test_an_outage_mid_batch_undoes_the_batch_and_it_is_done_once(chat):
    bodies = [f"{n}号楼的路灯不亮了" for n in range(8)]
    cut = fail_at(chat, "5号楼", StoreUnavailable("database unavailable: OperationalError"), 1)
    await journal(chat, bodies)
    assert await chat.app.dispatcher.process_pending() == len(bodies)
    assert cut["left"] == 0
    stored = [t for (t,) in rows(chat.app, "select text from messages order by id")]
    assert stored == bodies
    assert rows(chat.app, "select distinct state from inbox") == [("done",)]


async def test_a_batch_that_lost_a_deadlock_is_done_again_at_once(chat, caplog):
    """Another worker's transaction won a deadlock (PostgreSQL rolled this one back): the batch is
    done again at once, not after an outage's pause, and every message is stored once."""
    bodies = [f"{n}号楼又停水了" for n in range(6)]
    lost = fail_at(chat, "3号楼", StoreConflict("transaction rolled back: DeadlockDetected"), 2)
    await journal(chat, bodies)
    with caplog.at_level(logging.INFO):
        assert await chat.app.dispatcher.process_pending() == len(bodies)
    assert lost["left"] == 0
    assert "is done again" in caplog.text and " waits " not in caplog.text
    stored = [t for (t,) in rows(chat.app, "select text from messages order by id")]
    assert stored == bodies


async def test_an_acknowledgement_does_not_wait_for_the_messages_behind_it(chat):
    bodies = ["@政务助手 3号楼电梯坏了，什么时候修？", *[f"楼下{n}又在施工" for n in range(5)]]
    seen: dict[str, int] = {}

    async def count_outbox(ctx):
        if ctx.message.text.startswith("楼下0"):
            # The question's batch committed before this event began: its acknowledgement is queued.
            seen["outbox"] = rows(chat.app, "select count(*) from outbox")[0][0]

    in_front(chat, count_outbox)
    await journal(chat, bodies)
    await chat.app.dispatcher.process_pending()
    assert seen["outbox"] >= 1
    await chat.app.dispatcher.postman.flush()
    assert any("已收到您的问题" in p.text for p in chat.to("xingfuli"))
    assert rows(chat.app, "select count(*) from messages")[0][0] == len(bodies)


async def test_an_official_bound_in_a_batch_speaks_as_an_official_in_the_same_batch(chat):
    code = chat.app.store.create_invite("张伟", chat.clock.now)
    newcomer = chat.bot.person("张伟", "zhang-new")
    events = [
        Received.of(memory_event(chat.bot, "路灯坏了好几天", newcomer, chat.group, "before")),
        Received.of(
            memory_event(chat.bot, f"/bind {code}", newcomer, chat.bot.private(newcomer), "bind")
        ),
        Received.of(memory_event(chat.bot, "已联系维修", newcomer, chat.group, "after")),
    ]
    await chat.app.dispatcher.receive(events)
    await chat.app.dispatcher.process_pending()
    stored = rows(chat.app, "select text, from_official from messages order by id")
    assert [(t, bool(o)) for t, o in stored] == [("路灯坏了好几天", False), ("已联系维修", True)]


async def test_a_batch_done_again_carefully_does_not_keep_roles_its_first_attempt_learnt(
    chat, monkeypatch
):
    """A newcomer's message, then their /bind (in private), then their question in the group whose
    handler fails once: the batch is done again, carefully. The message before the /bind is still
    a resident's, not an official's — the first attempt learnt the new role inside the transaction
    it rolled back."""
    monkeypatch.setattr(bot.dispatch, "SEND_GRACE", 5.0)  # the three events share one batch
    monkeypatch.setattr(bot.dispatch, "BATCH_SECONDS", 5.0)
    code = chat.app.store.create_invite("张伟", chat.clock.now)
    newcomer = chat.bot.person("张伟", "zhang-new")
    left = {"failures": 1}

    async def fail_once(ctx: Any) -> None:
        if ctx.message.text.startswith("@政务助手") and left["failures"]:
            left["failures"] -= 1
            raise RuntimeError("boom")  # group talk has no savepoint: the batch is done again

    in_front(chat, fail_once)
    private = chat.bot.private(newcomer)
    await chat.app.dispatcher.receive(
        [
            Received.of(memory_event(chat.bot, "路灯坏了好几天", newcomer, chat.group, "before")),
            Received.of(memory_event(chat.bot, f"/bind {code}", newcomer, private, "bind")),
            Received.of(
                memory_event(chat.bot, "@政务助手 路灯什么时候修？", newcomer, chat.group, "q")
            ),
        ]
    )
    await chat.app.dispatcher.process_pending()
    assert left["failures"] == 0
    stored = rows(chat.app, "select text, from_official from messages order by id")
    assert [(t, bool(official)) for t, official in stored] == [
        ("路灯坏了好几天", False),
        ("@政务助手 路灯什么时候修？", True),
    ]


async def test_a_commit_lost_in_an_outage_leaves_no_remembered_row_for_the_retry(chat, monkeypatch):
    """The connection goes during a batch's COMMIT (nothing of the transaction kept; no rollback
    event either). The retry must not use the person id the lost transaction made: the message is
    stored then, and the earlier real failure is the only one counted — no poison, no apology."""
    chat.app.dispatcher.max_attempts = 2
    dialect = chat.app.store.engine.dialect
    real_commit, real_end = dialect.do_commit, Store.end_unit
    state = {"arm": False, "cut": False}

    def do_commit(dbapi_connection: Any) -> None:
        if state["cut"]:
            state["cut"] = False
            dbapi_connection.rollback()
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))
        real_commit(dbapi_connection)

    def end_unit(self: Store, commit: bool) -> None:
        if commit and state["arm"]:
            state["arm"], state["cut"] = False, True
        real_end(self, commit)

    monkeypatch.setattr(dialect, "do_commit", do_commit)
    monkeypatch.setattr(Store, "end_unit", end_unit)
    newcomer = chat.bot.person("新来的", "newcomer")
    tries = {"n": 0}

    async def observer(ctx: Any) -> None:
        if ctx.message.text.startswith("新人"):
            tries["n"] += 1
            if tries["n"] <= 2:  # a real failure: the optimistic attempt and the careful one
                raise RuntimeError("boom")
            if tries["n"] == 3:
                state["arm"] = True  # this attempt's COMMIT is lost

    in_front(chat, observer)
    event = memory_event(chat.bot, "新人 这里是几号楼", newcomer, chat.group, "m1")
    await chat.app.dispatcher.receive([Received.of(event)])
    await chat.app.dispatcher.process_pending()
    await chat.app.dispatcher.postman.flush()
    assert not state["arm"] and not state["cut"]  # the COMMIT was lost once
    assert [r[:2] for r in rows(chat.app, "select state, attempts from inbox")] == [("done", 1)]
    assert rows(chat.app, "select text from messages") == [("新人 这里是几号楼",)]
    assert not any(APOLOGY in p.text for p in chat.to("xingfuli"))
