"""Trust: what is answered only privately, and which tickets an official may act on (docs/SECURITY.md)."""

from __future__ import annotations

import pytest

from bot.events import IncomingMessage
from bot.routes import PRIVATE_NOTE
from handlers.scope import OUT_OF_SCOPE

pytestmark = pytest.mark.asyncio


async def test_digest_and_summary_typed_in_a_group_are_only_a_note_there(chat):
    await chat.ask("3号楼电梯坏了，请联系13812341111")
    for text, by in (("/digest", chat.zhang), ("/summary 7d", chat.chen)):
        posted = await chat.bot.say(text, by=by, chat=chat.group)
        assert [p.text for p in posted] == [PRIVATE_NOTE], text
        assert all(p.chat_id == "xingfuli" for p in posted)
    # In the private chat they are answered.
    assert "【潜水摘要】" in (await chat.bot.say("/digest", by=chat.zhang))[0].text
    assert "【履职统计" in (await chat.bot.say("/summary 7d", by=chat.chen))[0].text


async def test_status_in_a_group_only_for_the_askers_own_ticket(chat):
    await chat.ask("电梯什么时候修？")  # Q1, asked by 王阿姨
    own = await chat.bot.say("/status Q1", by=chat.wang, chat=chat.group)
    assert "Q1：待答复" in own[0].text
    someone_else = await chat.bot.say("/status Q1", by=chat.liu, chat=chat.group)
    assert [p.text for p in someone_else] == [PRIVATE_NOTE]
    official = await chat.bot.say("/status Q1", by=chat.zhang, chat=chat.group)
    assert [p.text for p in official] == [PRIVATE_NOTE]
    # Privately the official sees it.
    assert "Q1：待答复" in (await chat.bot.say("/status Q1", by=chat.zhang))[0].text


async def _question_of_the_other_group(chat):
    """Q1: a transport question in 阳光花园, a group 张伟 (housing) does not serve."""
    await chat.ask("公交站台什么时候恢复？", by=chat.liu, chat=chat.other_group)
    question = chat.app.store.question(1)
    assert question.department == "交通运输局"
    return question


def _refused(posted, who):
    """Only a private message to ``who`` saying it is not theirs; nothing in any group."""
    assert posted, "the official must be told"
    assert all(p.chat_id == who for p in posted), [(p.chat_id, p.text) for p in posted]
    assert any(OUT_OF_SCOPE.format(number="Q1") in p.text for p in posted)


async def test_an_official_of_another_group_may_not_answer(chat):
    question = await _question_of_the_other_group(chat)
    _refused(await chat.bot.say("/reply Q1 随便答", by=chat.zhang), "zhangwei")
    _refused(await chat.bot.say("/reply Q1 1", by=chat.zhang), "zhangwei")
    _refused(await chat.bot.say("/suggest Q1", by=chat.zhang), "zhangwei")
    _refused(await chat.bot.say("/transfer Q1 生态环境局", by=chat.zhang), "zhangwei")
    posted = await chat.bot.say(
        "随便答", by=chat.zhang, chat=chat.other_group, reply_to=question.platform_message_id
    )
    _refused(posted, "zhangwei")
    assert chat.app.store.question(1).state == "open"
    # The button: only the presser's notice.
    alert = next(p for p in chat.bot.outbox if p.chat_id == "lina")
    posted = await chat.bot.press("pick:1:1", by=chat.zhang, on=alert)
    assert not any(p.chat_id == "yangguang" for p in posted)
    assert OUT_OF_SCOPE.format(number="Q1")[:100] in (chat.bot.notices[-1][1] or "")
    assert chat.app.store.question(1).state == "open"


async def test_an_official_of_another_group_may_not_open_a_ticket(chat):
    await chat.bot.say("公交站台坏了", by=chat.liu, chat=chat.other_group, message_id="r1")

    def ticket(by):
        return IncomingMessage(
            platform="test",
            chat=chat.other_group,
            sender=by,
            message_id=f"t-{by.user_id}",
            text="/ticket",
            sent_at=chat.clock.now,
            reply_to_message_id="r1",
            reply_to_sender_id="liu",
            reply_to_text="公交站台坏了",
        )

    posted = await chat.bot.deliver(ticket(chat.zhang))
    assert posted and all(p.chat_id == "zhangwei" for p in posted)
    assert "这条消息不属于您负责" in posted[0].text
    assert chat.app.store.question(1) is None
    posted = await chat.bot.deliver(ticket(chat.li))
    assert any(p.chat_id == "yangguang" and "已收到" in p.text for p in posted)
    assert chat.app.store.question(1) is not None


async def test_the_right_official_and_the_supervisor_may_act(chat):
    await _question_of_the_other_group(chat)
    posted = await chat.bot.say("/suggest Q1", by=chat.li)
    assert any(p.chat_id == "lina" and "推荐答复" in p.text for p in posted)
    posted = await chat.bot.say("/reply Q1 本月恢复", by=chat.chen)
    assert any(p.chat_id == "yangguang" and "本月恢复" in p.text for p in posted)
    assert chat.app.store.question(1).state == "answered"


PHONE = "13812341111"
MASKED = "138****1111"


async def _complaint_with_a_phone(chat):
    posted = await chat.ask(f"3号楼电梯坏了，物业不管，请联系我{PHONE}")
    alert = next(p for p in posted if p.chat_id == "zhangwei")
    assert PHONE in alert.text  # the handling official's own alert is as written
    assert PHONE in chat.app.store.question(1).text  # stored as written


async def test_personal_data_is_masked_in_digest_and_summary(chat):
    await _complaint_with_a_phone(chat)
    for text, by in (("/digest", chat.li), ("/summary 7d", chat.chen)):
        posted = await chat.bot.say(text, by=by)
        body = "\n".join(p.text for p in posted)
        assert PHONE not in body, text


async def test_personal_data_is_masked_in_digest_lines(chat):
    await _complaint_with_a_phone(chat)
    [digest] = await chat.bot.say("/digest", by=chat.zhang)
    assert MASKED in digest.text and PHONE not in digest.text


async def test_supervisors_overdue_alert_and_transfer_notice_are_masked(chat):
    from handlers.overdue import OverdueReminder

    await _complaint_with_a_phone(chat)
    chat.clock.advance(days=7)  # past a complaint's 5 working days
    before = len(chat.bot.outbox)
    await OverdueReminder(chat.app.dispatcher).run_once()
    sent = chat.bot.outbox[before:]
    [supervisor] = [p.text for p in sent if p.chat_id == "chenjing" and "超时督办" in p.text]
    [assignee] = [p.text for p in sent if p.chat_id == "zhangwei" and "超时督办" in p.text]
    assert MASKED in supervisor and PHONE not in supervisor
    assert PHONE in assignee  # the handling official sees it as written

    posted = await chat.bot.say("/transfer Q1 交通运输局 转给李娜", by=chat.zhang)
    notice = next(p.text for p in posted if p.chat_id == "lina")
    assert MASKED in notice and PHONE not in notice
