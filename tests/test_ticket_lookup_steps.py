"""A ticket's history and the list of extensions awaiting a decision read only their own rows.

``/history Q12`` read the ticket's engagements by ``question_id``, which had no index: every
engagement of every official was read for one ticket. ``/approve`` without a number read every waiting
question to find the few with an extension requested. An index on ``engagements (question_id)`` and a
partial index of the waiting questions with an extension requested (migration 0019) keep the work of
each the same (SQLite's virtual-machine steps, as in ``test_planner_statistics``) as the store's
tickets grow eleven times, with the planner's statistics refreshed and without them. SQLite only.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from dialogue_support import Dialogue
from test_planner_statistics import Steps
from tests_support import migration


def number_in(posted: list[Any]) -> str:
    return next(m[0] for p in posted if (m := re.search(r"Q\d+", p.text)))


async def tickets(chat: Dialogue, first: int, last: int) -> None:
    """Residents ask about buildings ``first`` … ``last - 1``; 张伟 answers every other one, the rest
    wait."""
    for n in range(first, last):
        posted = await chat.ask(
            f"{n}号楼电梯坏了，什么时候修？", by=chat.bot.person(f"居民{n}", f"r{n}")
        )
        if n % 2:
            await chat.bot.say(
                f"/reply {number_in(posted)} 已安排维修，明天上午处理", by=chat.zhang
            )


async def lookup_steps(chat: Dialogue, steps: Steps, n: int) -> list[int]:
    """A new ticket whose extension 张伟 asks for: the steps of its ``/history`` and of 陈静's
    ``/approve`` list."""
    posted = await chat.ask(f"{n}号楼电梯坏了，什么时候修？", by=chat.bot.person(f"新{n}", f"n{n}"))
    number = number_in(posted)
    await chat.bot.say(f"/extend {number} 3d 需要协调物业", by=chat.zhang)
    counted = []
    for text, by in ((f"/history {number}", chat.zhang), ("/approve", chat.chen)):
        with steps.counted():
            answer = await chat.bot.say(text, by=by)
        assert number in answer[-1].text, answer
        counted.append(steps.steps)
    await chat.bot.say(f"/approve {number}", by=chat.chen)  # the next list is the same length
    return counted


@pytest.mark.asyncio
@pytest.mark.parametrize("statistics", [True, False], ids=["statistics", "no-statistics"])
async def test_a_tickets_history_and_the_extension_list_do_not_read_every_ticket(
    app, clock, monkeypatch, statistics
):
    steps = Steps(app.store.engine, monkeypatch, statistics=statistics)
    chat = Dialogue(app, clock)
    await tickets(chat, 1, 21)
    few = await lookup_steps(chat, steps, 5000)
    await tickets(chat, 21, 221)
    many = await lookup_steps(chat, steps, 6000)
    assert len(chat.to(chat.group.chat_id)) >= 220  # every question was acknowledged
    # Eleven times the tickets: the same work (it was 1.15 to 1.4 times the history, 1.65 to 1.8 the list).
    for action, f, m in zip(("/history", "/approve"), few, many, strict=True):
        assert m < 1.1 * f, (action, few, many)


def test_the_extension_index_says_the_waiting_states_the_code_knows():
    # The partial index's condition is SQL text, fixed in migration 0019 and in the models.
    from storage.models import EXTENSION_PENDING
    from storage.records import QuestionState

    states = ", ".join(f"'{s}'" for s in sorted(QuestionState.WAITING))
    expected = f"state IN ({states}) AND extension_due_at IS NOT NULL"
    assert expected == EXTENSION_PENDING
    assert migration("0019_ticket_lookups.py").EXTENSION_PENDING == EXTENSION_PENDING
