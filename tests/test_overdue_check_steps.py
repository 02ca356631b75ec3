"""The 督办 check reads only the questions it still has to fire for, not those it fired for before.

Every minute ``OverdueReminder.run_once`` claims the waiting questions whose reminder, deadline or
second level has passed and not gone out, and the answers unrated at their 回访 time. Its indexes held
every question past the stage's time, those it had fired for too (on SQLite with statistics the
deadline's claim even read every question), so a backlog of overdue tickets, or of answers nobody
rated, was read again at every check. Partial indexes of the questions still to fire for (migration
0017) keep the work of a check that finds nothing the same (SQLite's virtual-machine steps, as in
``test_planner_statistics``) as the backlog grows eleven times, with the planner's statistics
refreshed and without them (a store created empty, in its first minutes). SQLite only.
"""

from __future__ import annotations

import re

import pytest

from dialogue_support import Dialogue
from handlers.overdue import OverdueReminder
from test_planner_statistics import Steps
from tests_support import migration

pytestmark = pytest.mark.asyncio


async def backlog(chat: Dialogue, first: int, last: int, *, answered: bool) -> None:
    """Residents ask about buildings ``first`` … ``last - 1``; the tickets are left open or answered
    (and never rated)."""
    for n in range(first, last):
        resident = chat.bot.person(f"居民{n}", f"r{n}")
        posted = await chat.ask(f"{n}号楼电梯坏了，什么时候修？", by=resident)
        if answered:
            number = next(m[0] for p in posted if (m := re.search(r"Q\d+", p.text)))
            await chat.bot.say(f"/reply {number} 已安排维修，明天上午处理", by=chat.zhang)


async def quiet_check_steps(chat: Dialogue, timer: OverdueReminder, steps: Steps) -> int:
    """Weeks later every stage has fired for the backlog: the steps of the next check, which finds
    nothing to fire."""
    chat.clock.advance(days=20)
    await timer.run_once()  # fires every stage and 回访 reminder due
    chat.clock.advance(minutes=1)
    with steps.counted():
        overdue = await timer.run_once()
    assert overdue == []
    return steps.steps


@pytest.mark.parametrize("answered", [False, True], ids=["overdue", "unrated"])
@pytest.mark.parametrize("statistics", [True, False], ids=["statistics", "no-statistics"])
async def test_the_overdue_check_does_not_read_the_tickets_it_already_fired_for(
    app, clock, monkeypatch, answered, statistics
):
    steps = Steps(app.store.engine, monkeypatch, statistics=statistics)
    chat = Dialogue(app, clock)
    timer = OverdueReminder(app.dispatcher)
    await backlog(chat, 1, 11, answered=answered)
    few = await quiet_check_steps(chat, timer, steps)
    await backlog(chat, 11, 111, answered=answered)
    many = await quiet_check_steps(chat, timer, steps)
    reminded = [p for p in chat.to("zhangwei") if "提醒" in p.text or "督办" in p.text]
    assert len(reminded) >= 110  # every ticket of the backlog had its reminder (or 回访 reminder)
    # Eleven times the backlog: the same work (it was 3.5 to 6.3 times the work).
    assert many < 2 * few, (few, many)


async def test_the_timer_indexes_say_the_waiting_states_the_code_knows():
    # The partial indexes' conditions are SQL text, fixed in migration 0017 and in the models: a
    # waiting state added to the code but not to them would leave its questions' stages unfired.
    from storage.models import TIMER_WAITING
    from storage.records import QuestionState

    states = ", ".join(f"'{s}'" for s in sorted(QuestionState.WAITING))
    expected = f"state IN ({states}) AND duplicate_of_id IS NULL"
    assert expected == TIMER_WAITING
    assert migration("0017_timer_unsent.py").WAITING == TIMER_WAITING
