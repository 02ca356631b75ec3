"""SQLite compiles each of the hot path's statements once, not at every execution.

SQLite prepares a statement again, at every execution, when a bound value decides whether a partial
index applies (``state = ?`` against ``ix_inbox_chat_pending``'s ``WHERE state = 'pending'``): the claim
of a lone question cost several times its own work that way. The statements write such values into
their SQL (``storage.journal._WAITING``). SQLite calls a connection's authorizer only while it
compiles a statement, so counting its calls per statement counts the preparations: residents' questions,
their plain talk, a backlog of group messages and the dispatcher's inbox reads: no statement run
three times or more is compiled at most of its runs.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import event

from bot.events import Received
from dialogue_support import Dialogue, memory_event

pytestmark = pytest.mark.asyncio

ROUNDS = 12


class Preparations:
    """Per statement: how often it ran, and how often SQLite compiled it (its authorizer's calls,
    one counted per run: a compilation asks it about every table and column)."""

    def __init__(self, engine: Any) -> None:
        self.runs: Counter[str] = Counter()
        self.compiled: Counter[str] = Counter()
        self._running: str | None = None
        event.listen(engine, "connect", self._connected)
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        engine.dispose()  # the connections made from now on get the authorizer

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_authorizer(self._authorize)

    def _authorize(self, *_: Any) -> int:
        if self._running is not None:
            self.compiled[self._running] += 1
            self._running = None
        return sqlite3.SQLITE_OK

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self._running = " ".join(statement.split())
        self.runs[self._running] += 1

    def _after(self, *_: Any) -> None:
        self._running = None

    def compiled_at_each_run(self, at_least: int) -> list[str]:
        """The statements run ``at_least`` times and compiled at more than half of their runs."""
        return [
            f"{self.compiled[sql]} of {runs} runs: {sql[:160]}"
            for sql, runs in self.runs.items()
            if runs >= at_least and self.compiled[sql] > runs // 2
        ]


async def test_the_hot_path_compiles_its_statements_once(app, clock):
    prepared = Preparations(app.store.engine)
    chat = Dialogue(app, clock)
    for i in range(ROUNDS):
        resident = chat.bot.person(f"居民{i}", f"r{i}")
        await chat.ask(f"{i + 1}号楼电梯坏了，什么时候修？", by=resident)
        await chat.bot.say(f"今天{i + 1}号楼又停水了", by=resident, chat=chat.group)
    # A backlog, as an adapter hands over pages of updates: claimed and stored in batches.
    by = chat.wang
    for page in range(3):
        await app.dispatcher.receive(
            [
                Received.of(memory_event(chat.bot, f"小区{n}号路灯不亮了", by, chat.group, f"b{n}"))
                for n in range(page * 40, page * 40 + 40)
            ]
        )
        await app.dispatcher.process_pending()
    assert len(chat.to(chat.group.chat_id)) >= ROUNDS  # the questions were acknowledged
    assert prepared.runs, "no statement was heard"
    for _ in range(ROUNDS):  # the inbox read of every poll of the dispatcher
        assert await app.dispatcher.services.db(app.store.pending_events, 10) == []
    assert prepared.compiled_at_each_run(3) == []
