"""Complaints nobody @-mentioned reach the group's officials, batched, and can become tickets with one
action (issue 17). Dialogues on both engines; time driven by the injected clock."""

from __future__ import annotations

import pytest

from bot.events import IncomingMessage

pytestmark = pytest.mark.asyncio

GARBAGE = "物业太不负责了，垃圾三天没人清"
SMOKE = "楼下烧烤店油烟太大了，熏得没法开窗"
LIFT = "电梯坏了有人管吗"


def alerts_to(chat, user_id: str) -> list[str]:
    return [p.text for p in chat.to(user_id) if p.text.startswith("【未@的投诉与求助】")]


async def test_unaddressed_complaints_reach_officials_in_batches(chat):
    await chat.bot.say(GARBAGE, by=chat.wang, chat=chat.group)
    # The first one goes out at once to the group's officials, privately.
    (first,) = alerts_to(chat, "zhangwei")
    assert "「幸福里小区」有 1 条" in first and "王阿姨：物业太不负责了" in first
    assert "/ticket" in first
    assert alerts_to(chat, "lina") == [first]
    assert alerts_to(chat, "chenjing") == []

    # Within the next 30 minutes they accumulate; small talk and @-questions are not among them.
    chat.clock.advance(minutes=5)
    await chat.bot.say(SMOKE, by=chat.liu, chat=chat.group, message_id="smoke")
    await chat.bot.say("今天天气真好", by=chat.liu, chat=chat.group)
    await chat.ask("公交站什么时候恢复？", by=chat.liu)
    assert len(alerts_to(chat, "zhangwei")) == 1

    # The next one after 30 minutes sends everything that accumulated, in one message.
    chat.clock.advance(minutes=30)
    await chat.bot.say(LIFT, by=chat.wang, chat=chat.group)
    batches = alerts_to(chat, "zhangwei")
    assert len(batches) == 2
    second = batches[1]
    assert "有 2 条" in second and "油烟" in second and "电梯坏了" in second
    assert "垃圾" not in second and "天气" not in second and "公交站" not in second

    # One action turns a listed message into a ticket: reply to it in the group with /ticket.
    ticket = IncomingMessage(
        platform="test",
        chat=chat.group,
        sender=chat.zhang,
        message_id="ticket-smoke",
        text="/ticket",
        sent_at=chat.clock.now,
        reply_to_message_id="smoke",
        reply_to_sender_id="liu",
        reply_to_text=SMOKE,
    )
    posted = await chat.bot.deliver(ticket)
    assert any("编号 Q2" in p.text for p in posted if p.chat_id == "xingfuli")

    posted = await chat.bot.say("/summary today", by=chat.chen)
    assert "未@的投诉与求助 3 条（已立案 1 条）" in posted[0].text


async def test_a_digest_sends_what_waits_for_its_batch(chat):
    await chat.bot.say(GARBAGE, by=chat.wang, chat=chat.group)
    chat.clock.advance(minutes=5)
    await chat.bot.say(SMOKE, by=chat.liu, chat=chat.group)
    assert len(alerts_to(chat, "lina")) == 1
    await chat.bot.say("/digest", by=chat.zhang)
    # Both officials of the group get the batch; nothing is listed twice.
    for official in ("zhangwei", "lina"):
        batches = alerts_to(chat, official)
        assert len(batches) == 2 and "油烟" in batches[1] and "垃圾" not in batches[1]
    await chat.bot.say("/digest", by=chat.zhang)
    assert len(alerts_to(chat, "zhangwei")) == 2


async def test_a_question_asking_for_help_counts_and_one_asking_for_facts_does_not(chat):
    await chat.bot.say("明天几点开会？", by=chat.liu, chat=chat.group)
    await chat.bot.say("有没有人知道物业电话是多少？", by=chat.liu, chat=chat.group)
    assert alerts_to(chat, "zhangwei") == []
    await chat.bot.say("楼道灯坏了怎么办？", by=chat.wang, chat=chat.group)
    (alert,) = alerts_to(chat, "zhangwei")
    assert "有 1 条" in alert and "楼道灯坏了怎么办" in alert
