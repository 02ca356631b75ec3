"""An official's pick of a suggested answer reads only the suggestions of the latest alert, not every
suggestion they were ever shown.

A bare number in the private chat (``2``), ``/reply Q12 2`` and a suggestion button look up the latest
templates shown to the official (``pending_suggestions``). The index on ``(official_id, at)`` held them
in time order while the look-up asked for the newest id, so every suggestion the official was ever
shown (three per alert) was read and sorted at each pick. Indexes in id order (migration 0018) keep
the work of a pick the same (SQLite's virtual-machine steps, as in ``test_planner_statistics``) as the
official's history grows eleven times, with the planner's statistics refreshed and without them.
SQLite only.
"""

from __future__ import annotations

import re

import pytest

from dialogue_support import Dialogue
from test_planner_statistics import Steps

pytestmark = pytest.mark.asyncio


async def answered(chat: Dialogue, first: int, last: int) -> None:
    """Residents ask about buildings ``first`` … ``last - 1``; 张伟 is alerted with suggestions for each
    and answers each in his own words."""
    for n in range(first, last):
        resident = chat.bot.person(f"居民{n}", f"r{n}")
        posted = await chat.ask(f"{n}号楼电梯坏了，什么时候修？", by=resident)
        number = next(m[0] for p in posted if (m := re.search(r"Q\d+", p.text)))
        await chat.bot.say(f"/reply {number} 已安排维修，明天上午处理", by=chat.zhang)


async def pick_steps(chat: Dialogue, steps: Steps, n: int) -> int:
    """A new question: the steps of 张伟 picking its second suggestion by number, then of picking the
    first suggestion of another by its button."""
    posted = await chat.ask(f"{n}号楼电梯坏了，什么时候修？", by=chat.bot.person(f"新{n}", f"n{n}"))
    other = await chat.ask(f"{n + 1}号楼电梯坏了，什么时候修？", by=chat.bot.person(f"新{n + 1}"))
    alert = next(p for p in other if p.chat_id == "zhangwei")
    number = alert.button_data()[0].split(":")[1]
    with steps.counted():
        by_number = await chat.bot.say("2", by=chat.zhang)
        by_button = await chat.bot.press(f"pick:{number}:1", by=chat.zhang, on=alert)
    assert posted and any(p.chat_id == "xingfuli" and "答复】" in p.text for p in by_number)
    assert any(p.chat_id == "xingfuli" and f"【Q{number} 答复】" in p.text for p in by_button)
    return steps.steps


@pytest.mark.parametrize("statistics", [True, False], ids=["statistics", "no-statistics"])
async def test_picking_a_suggestion_does_not_read_every_suggestion_shown_before(
    app, clock, monkeypatch, statistics
):
    steps = Steps(app.store.engine, monkeypatch, statistics=statistics)
    chat = Dialogue(app, clock)
    await answered(chat, 1, 21)
    few = await pick_steps(chat, steps, 5000)
    await answered(chat, 21, 221)
    many = await pick_steps(chat, steps, 6000)
    assert len(chat.to("zhangwei")) >= 220  # every question's alert, with its suggestions
    # Eleven times the suggestions shown: the same work (it was 4 to 5 times the work).
    assert many < 1.5 * few, (few, many)
