"""A supervisor's ``/suggestions`` reads the registry's entries, not every message of the groups they
oversee.

The registry's list and counts join each entry to its message for the message's group. Filtered by
the supervisor's groups, the planner started from the groups' messages (their index by group), so the
command read every message the groups ever posted to find the few that are suggestions: a busy
city's groups made it slower every day. The group is now compared in a form no index of the
messages serves (``storage.registry``), so the look-up starts from the entries: its work (SQLite's
virtual-machine steps, as in ``test_planner_statistics``) stays the same as the groups' talk grows
eleven times, with the planner's statistics refreshed and without them. SQLite only.
"""

from __future__ import annotations

import pytest

from dialogue_support import Dialogue
from test_planner_statistics import Steps

pytestmark = pytest.mark.asyncio


async def talk(chat: Dialogue, first: int, last: int) -> None:
    """Residents chat in the group: messages ``first`` … ``last - 1``, none of them a suggestion."""
    for n in range(first, last):
        resident = chat.bot.person(f"居民{n}", f"r{n}")
        await chat.bot.say(f"今天{n}号楼门口好热闹", by=resident, chat=chat.group)


async def listing_steps(chat: Dialogue, steps: Steps) -> int:
    """The steps of 陈静's ``/suggestions``, the registry holding one suggestion."""
    with steps.counted():
        posted = await chat.bot.say("/suggestions", by=chat.chen)
    assert posted[0].text.startswith("【好想法好建议 1 条"), posted[0].text
    return steps.steps


@pytest.mark.parametrize("statistics", [True, False], ids=["statistics", "no-statistics"])
async def test_the_suggestion_registry_does_not_read_every_message_of_the_groups(
    app, clock, monkeypatch, statistics
):
    steps = Steps(app.store.engine, monkeypatch, statistics=statistics)
    chat = Dialogue(app, clock)
    await chat.bot.say("建议小区多装几个快递柜", by=chat.liu, chat=chat.group)  # registered
    await talk(chat, 1, 21)
    few = await listing_steps(chat, steps)
    await talk(chat, 21, 221)
    many = await listing_steps(chat, steps)
    # Eleven times the groups' messages: the same work.
    assert many < 1.2 * few, (few, many)
