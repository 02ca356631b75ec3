"""SQLite's planner statistics are refreshed while the bot runs, so a store created empty does not keep
plans chosen for empty tables.

Without statistics the same-question look-up (同问: an open ticket of the group on the asker's topic)
reads every open ticket of the group, and a busy group's residents each waited longer than the one
before. With the statistics SQLite gathers as the connections go back to the pool
(``storage.database.OPTIMIZE_SECONDS``, made 0 here), the topic's index finds it: the work of a look-up
(SQLite's virtual-machine steps, counted by its progress handler) stays the same as open tickets pile
up. SQLite only: PostgreSQL's autovacuum keeps its own statistics.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

import storage.database
from dialogue_support import Dialogue

pytestmark = pytest.mark.asyncio


class Steps:
    """SQLite virtual-machine steps run on the engine's connections in a ``counted`` block. With
    ``statistics`` the planner's statistics are refreshed whenever a connection goes back to the pool
    (``OPTIMIZE_SECONDS`` made 0), without them never (a store in its first minutes); never while
    counting."""

    def __init__(self, engine: Any, monkeypatch: Any, *, statistics: bool = True) -> None:
        self.steps = 0
        self.counting = False
        self._monkeypatch = monkeypatch
        self._optimize = 0.0 if statistics else math.inf
        monkeypatch.setattr(storage.database, "OPTIMIZE_SECONDS", self._optimize)
        event.listen(engine, "connect", self._connected)
        engine.dispose()

    @contextmanager
    def counted(self) -> Iterator[None]:
        """Count the block's steps (``steps``, from 0), the statistics not refreshed meanwhile."""
        self._monkeypatch.setattr(storage.database, "OPTIMIZE_SECONDS", math.inf)
        self.steps, self.counting = 0, True
        try:
            yield
        finally:
            self.counting = False
            self._monkeypatch.setattr(storage.database, "OPTIMIZE_SECONDS", self._optimize)

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_progress_handler(self._step, 1)

    def _step(self) -> int:
        self.steps += self.counting
        return 0


async def open_tickets(chat: Dialogue, first: int, last: int) -> None:
    """Residents ask about buildings ``first`` … ``last - 1``: a ticket each, each on its own topic."""
    for n in range(first, last):
        resident = chat.bot.person(f"居民{n}", f"r{n}")
        await chat.ask(f"{n}号楼电梯坏了，什么时候修？", by=resident)


def lookup_steps(chat: Dialogue, steps: Steps) -> int:
    """The steps of looking for an open ticket of the group on a topic no ticket has."""
    with steps.counted():
        found = chat.app.store.open_ticket_on_topic(
            [(chat.group.platform, chat.group.chat_id)],
            "test:xingfuli|9999号楼电梯",
            chat.clock() - timedelta(days=1),
        )
    assert found is None
    return steps.steps


async def test_finding_a_ticket_on_a_topic_does_not_read_the_groups_every_ticket(
    app, clock, monkeypatch
):
    steps = Steps(app.store.engine, monkeypatch)
    chat = Dialogue(app, clock)
    await open_tickets(chat, 1, 21)
    few = lookup_steps(chat, steps)
    await open_tickets(chat, 21, 221)
    many = lookup_steps(chat, steps)
    assert len(chat.to(chat.group.chat_id)) >= 220  # every question was acknowledged
    # Ten times the open tickets: the same work (without the statistics it was ten times the work).
    assert many < 2 * few, (few, many)
