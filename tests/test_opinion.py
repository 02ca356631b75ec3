"""舆情预警 as dialogues: a burst across groups warns once; a trickle never; a later window only if it
bursts again (issue 17). Both engines, time driven by the injected clock."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dialogue_support import ROSTER
from storage.models import Message, OpinionWarning
from tests_support import rows

pytestmark = pytest.mark.asyncio

OUTAGE = (
    "又停水了，什么时候来水？",
    "停水了，家里老人做不了饭",
    "小区停水一上午了",
    "到底什么时候恢复供水",
    "停水也不提前通知一下",
    "水停了，物业电话打不通",
    "这边也停水了",
    "停水影响开店，什么时候来水？有消息打我电话13812345678",
    "又停水了，什么时候来水？",
    "停水了，家里老人做不了饭",
    "小区停水一上午了",
    "到底什么时候恢复供水",
)


def warnings_to(chat, user_id: str) -> list[str]:
    return [p.text for p in chat.to(user_id) if p.text.startswith("【舆情预警】")]


def reminders_to(chat, user_id: str) -> list[str]:
    return [p.text for p in chat.to(user_id) if p.text.startswith("【舆情提醒】")]


async def outage_burst(chat, groups, lines=OUTAGE, minutes: float = 2.5) -> None:
    residents = [chat.wang, chat.liu, chat.bot.person("赵大爷", "zhao")]
    for i, text in enumerate(lines):
        await chat.bot.say(text, by=residents[i % 3], chat=groups[i % len(groups)])
        chat.clock.advance(minutes=minutes)


def stored_warnings(chat):
    return rows(
        chat.app.store,
        select(OpinionWarning.label, OpinionWarning.count, OpinionWarning.groups).order_by(
            OpinionWarning.id
        ),
    )


async def test_a_burst_across_three_groups_raises_one_warning(chat):
    third = chat.bot.group("和平里", "hepingli")
    await outage_burst(chat, [chat.group, chat.other_group, third])

    # One warning, stored with the whole window's count and the three groups.
    assert stored_warnings(chat) == [("停水", 12, "幸福里小区、阳光花园、和平里")]
    # The supervisor hears once, privately: count, groups, first and latest message, trend.
    sent = warnings_to(chat, "chenjing")
    assert len(sent) == 1
    text = sent[0]
    assert "近30分钟 8 条" in text  # raised by the 8th message, the minimum count
    assert "涉及 3 个群" in text and "幸福里小区" in text and "和平里" in text
    assert "首条 11月16日 08:30［幸福里小区］王阿姨：又停水了" in text
    assert "趋势：上升（前一时段 0 条 → 本时段 8 条）" in text
    assert all(p.message.is_private for p in chat.to("chenjing"))
    # A phone number a resident posted is masked in what the supervisor reads.
    assert "13812345678" not in text
    assert "最新 11月16日 08:47［阳光花园］刘先生：停水影响开店" in text
    assert "138****5678" in text
    # Each group's officials hear about their own groups only.
    (zhang,) = reminders_to(chat, "zhangwei")
    assert "幸福里小区" in zhang and "阳光花园" not in zhang and "和平里" not in zhang
    (li,) = reminders_to(chat, "lina")
    assert "幸福里小区" in li and "阳光花园" in li
    # The supervisor's summary counts it, with the window's final count.
    posted = await chat.bot.say("/summary today", by=chat.chen)
    assert "舆情预警 1 次：停水(12条，幸福里小区、阳光花园、和平里)" in posted[0].text
    # Nothing about it was posted in any group.
    assert not any(
        "舆情" in p.text for g in ("xingfuli", "yangguang", "hepingli") for p in chat.to(g)
    )


async def test_a_slow_trickle_raises_none(chat):
    third = chat.bot.group("和平里", "hepingli")
    await outage_burst(chat, [chat.group, chat.other_group, third], minutes=60)
    # Every message was stored with its topic, yet no window held enough of them.
    keys = rows(chat.app.store, select(Message.topic_key))
    assert keys.count(("停水",)) == len(OUTAGE)
    assert stored_warnings(chat) == []
    assert warnings_to(chat, "chenjing") == [] and reminders_to(chat, "zhangwei") == []


async def test_a_second_window_warns_again_only_if_it_bursts_again(chat):
    lines = [*OUTAGE[:7], "@政务助手 " + OUTAGE[7]]  # the 8th asks the bot
    await outage_burst(chat, [chat.group, chat.other_group], lines=lines)
    (first,) = warnings_to(chat, "chenjing")
    assert "刘先生：停水影响开店" in first and "政务助手" not in first
    chat.clock.advance(minutes=40)
    # A few more in the next window: the topic is still talked about, but there is no new burst.
    await outage_burst(chat, [chat.group], lines=OUTAGE[:3])
    assert len(warnings_to(chat, "chenjing")) == 1
    chat.clock.advance(minutes=40)
    # It bursts again: a second warning, its trend measured against the quiet window before.
    await outage_burst(chat, [chat.group, chat.other_group], lines=OUTAGE[:8], minutes=1)
    sent = warnings_to(chat, "chenjing")
    assert len(sent) == 2
    assert [(label, count) for label, count, _ in stored_warnings(chat)] == [
        ("停水", 8),
        ("停水", 8),
    ]


@pytest.fixture
def six_hour_baseline(chat, app_factory, db_url, clock):
    """A dialogue like ``chat`` whose topics' usual rate is measured over the 6 hours before the
    window ([opinion] baseline_days). (Made from ``chat``'s class: tests never import conftest.)"""
    return type(chat)(app_factory(db_url, opinion={"baseline_days": 0.25}), clock)


async def test_a_topic_that_is_always_busy_needs_more_than_its_usual_rate(six_hour_baseline):
    chat = six_hour_baseline
    # Six hours of steady talk, 8 an hour: about 4 per 30-minute window is usual for this topic.
    for _ in range(6):
        await outage_burst(chat, [chat.group], lines=OUTAGE[:8], minutes=60 / 8)
    assert stored_warnings(chat) == []
    # 9 in half an hour passes the minimum count but not 3 times the usual 4: no warning.
    await outage_burst(chat, [chat.group], lines=OUTAGE[:9], minutes=30 / 9)
    assert stored_warnings(chat) == []
    # 13 does.
    await outage_burst(chat, [chat.group], lines=OUTAGE + OUTAGE[:1], minutes=30 / 13)
    assert [label for label, _, _ in stored_warnings(chat)] == ["停水"]


async def test_a_warning_reaches_only_the_supervisors_whose_groups_burst(dialogue):
    """A supervisor with no groups on the roster oversees none (as on every other channel), so the
    residents' words quoted in a warning do not reach them; an admin oversees all."""
    roster = [
        *ROSTER,
        {"name": "周平", "role": "supervisor", "identities": ["test:zhouping"]},
        {
            "name": "吴敏",
            "role": "supervisor",
            "identities": ["test:wumin"],
            "groups": ["test:far"],
        },
        {"name": "孙强", "role": "admin", "identities": ["test:sunqiang"]},
    ]
    chat = dialogue(officials=roster)
    await outage_burst(chat, [chat.group, chat.other_group])
    assert len(warnings_to(chat, "chenjing")) == 1
    assert len(warnings_to(chat, "sunqiang")) == 1
    assert warnings_to(chat, "zhouping") == [] and warnings_to(chat, "wumin") == []
