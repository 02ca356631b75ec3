"""好想法好建议 as dialogues: suggestions enter the registry (by the classifier or an official's /adopt),
each status change reaches the suggester in their group, supervisors list it (issue 17)."""

from __future__ import annotations

import pytest

from bot.events import IncomingMessage

pytestmark = pytest.mark.asyncio

LOCKERS = "建议小区多装几个快递柜"
BENCHES = "可以在小区里加几个长椅吗"


def adopt(chat, by, message_id: str, text: str, sender: str = "wangayi") -> IncomingMessage:
    return IncomingMessage(
        platform="test",
        chat=chat.group,
        sender=by,
        message_id=f"adopt-{message_id}-{by.user_id}",
        text="/adopt",
        sent_at=chat.clock.now,
        reply_to_message_id=message_id,
        reply_to_sender_id=sender,
        reply_to_text=text,
    )


async def test_a_suggestion_s_life_reaches_the_suggester(chat):
    # A confident suggestion is registered silently; a rating that reads like one is not.
    rating = "基本满意，希望按时完工"
    assert chat.app.services.text.intent(rating).label == "suggestion"  # what this is about
    assert await chat.bot.say(LOCKERS, by=chat.liu, chat=chat.group, message_id="m-lockers") == []
    await chat.bot.say(rating, by=chat.wang, chat=chat.group)
    # A suggestion addressed to the bot is a ticket, answered as one, not a registry entry.
    to_the_bot = "建议小区门口再多装几个快递柜"
    assert chat.app.services.text.intent(to_the_bot).confident
    assert "编号 Q1" in (await chat.ask(to_the_bot, by=chat.liu))[0].text
    # An unsure one becomes an entry when an official marks it.
    await chat.bot.say(BENCHES, by=chat.wang, chat=chat.group, message_id="m-benches")
    posted = await chat.bot.deliver(adopt(chat, chat.zhang, "m-benches", BENCHES))
    (told,) = [p for p in posted if p.chat_id == "xingfuli"]
    assert "已登记为好想法好建议 S2" in told.text
    assert told.message.reply_to_message_id == "m-benches"
    posted = await chat.bot.deliver(adopt(chat, chat.li, "m-benches", BENCHES))
    assert [p.chat_id for p in posted] == ["lina"] and "已登记为 S2" in posted[0].text

    # Each status change, with the official's note, is told to the suggester under their message.
    posted = await chat.bot.say("/suggestion S1 研究中 已与物业商量场地", by=chat.zhang)
    (progress,) = [p for p in posted if p.chat_id == "xingfuli"]
    assert progress.text.startswith("【S1 建议进展】您的建议「建议小区多装几个快递柜」：研究中。")
    assert "已与物业商量场地" in progress.text and "——张伟" in progress.text
    assert progress.message.reply_to_message_id == "m-lockers"
    assert progress.message.mention_user_ids == ("liu",)
    assert "S1 已更新为「研究中」" in posted[-1].text
    posted = await chat.bot.say("/suggestion s1 已採納 下月安装", by=chat.zhang)  # Traditional
    assert any("：已采纳。\n下月安装" in p.text for p in posted if p.chat_id == "xingfuli")

    # Bad input gets a clear word and changes nothing.
    posted = await chat.bot.say("/suggestion S9 研究中", by=chat.zhang)
    assert "没有找到建议 S9" in posted[0].text
    posted = await chat.bot.say("/suggestion S1 好的", by=chat.zhang)
    assert "用法" in posted[0].text
    posted = await chat.bot.say("/suggestion S1 暂不采纳", by=chat.wang, chat=chat.group)
    assert "仅限工作人员" in posted[0].text

    # Supervisors list the registry privately; the summary counts it.
    posted = await chat.bot.say("/suggestions", by=chat.chen)
    listing = posted[0].text
    assert listing.startswith("【好想法好建议 2 条：已收到 1、已采纳 1】")
    assert "S1［幸福里小区］刘先生：建议小区多装几个快递柜（已采纳，下月安装" in listing
    assert "S2［幸福里小区］王阿姨：可以在小区里加几个长椅吗（已收到" in listing
    assert "希望按时完工" not in listing
    posted = await chat.bot.say("/suggestions", by=chat.chen, chat=chat.group)
    assert "私聊" in posted[0].text
    chat.clock.advance(minutes=1)  # the period ends now: the last minute's messages are in it
    posted = await chat.bot.say("/summary today", by=chat.chen)
    assert "好想法好建议 2 条：已收到 1、已采纳 1" in posted[0].text
    # Nor does the summary count or list the rating among the residents' suggestions.
    assert "居民建议 2 条，最新：" in posted[0].text  # the lockers, and the one asked of the bot
    assert "希望按时完工" not in posted[0].text


async def test_an_official_changes_only_suggestions_of_their_scope(chat):
    await chat.bot.say("建议阳光花园门口增加路灯", by=chat.liu, chat=chat.other_group)
    posted = await chat.bot.say("/suggestion S1 研究中", by=chat.zhang)
    assert "不属于您负责" in posted[0].text
    assert not any(p.chat_id == "yangguang" for p in posted)
    posted = await chat.bot.say("/suggestion S1 研究中", by=chat.li)
    assert any(p.chat_id == "yangguang" and "研究中" in p.text for p in posted)
