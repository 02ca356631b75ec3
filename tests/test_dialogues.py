"""Handlers as dialogues: what residents, officials and supervisors type and what the bot answers."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.events import DeliveryUncertain, OutgoingMessage, Person, Undeliverable
from tests_support import engagement_counts, ratings, states

pytestmark = pytest.mark.asyncio


async def test_question_gets_ticket_due_time_and_official_alert(chat):
    posted = await chat.ask("3号楼电梯又坏了，什么时候能修好？")
    ack = posted[0]
    assert ack.chat_id == "xingfuli"
    assert ack.message.reply_to_message_id is not None  # quotes the resident
    assert "Q1" in ack.text and "已收到" in ack.text
    # One working day (咨询) from 08:30 on Monday 16 Nov: the whole day's working hours, 09:00-17:30.
    assert "11月16日 17:30" in ack.text
    assert "张伟" in ack.text  # the housing official of the group handles an elevator question
    alert = [p for p in posted if p.chat_id == "zhangwei"]
    assert len(alert) == 1 and alert[0].message.is_private
    assert "3号楼电梯又坏了" in alert[0].text
    assert [line[:2] for line in alert[0].text.splitlines() if line[:2] in ("1.", "2.", "3.")] == [
        "1.",
        "2.",
        "3.",
    ]
    assert alert[0].button_data() == ["pick:1:1", "pick:1:2", "pick:1:3"]
    question = chat.app.store.question(1)
    assert question.state == "open" and question.assignee_name == "张伟"
    assert question.department == "住房和城乡建设局"


async def test_small_talk_to_the_bot_opens_no_ticket(chat):
    for text in ("你好", "收到", "谢谢", "👍👍", "哈哈哈"):
        posted = await chat.ask(text)
        assert not any(p.message.is_private for p in posted), text
    assert chat.app.store.question(1) is None


async def test_unaddressed_group_talk_is_only_recorded(chat):
    posted = await chat.bot.say("今天天气真好", by=chat.wang, chat=chat.group)
    assert posted == []
    digest = chat.app.store.digest(1, None, chat.clock.now)
    assert digest.message_count == 1


async def test_official_picks_template_by_button_and_resident_rates(chat):
    posted = await chat.ask("小区电梯坏了好几天了，什么时候修？")
    alert = next(p for p in posted if p.chat_id == "zhangwei")
    chat.clock.advance(minutes=12)
    after = await chat.bot.press("pick:1:2", by=chat.zhang, on=alert)
    answer = next(p for p in after if p.chat_id == "xingfuli")
    assert answer.text.startswith("【Q1 答复】")
    assert answer.message.reply_to_message_id == chat.app.store.question(1).platform_message_id
    assert answer.button_data() == ["rate:1:s", "rate:1:b", "rate:1:u"]
    assert "王阿姨您好" in answer.text  # the template was rendered for this resident
    assert any("已发布" in (n or "") for _, n in chat.bot.notices)
    q = chat.app.store.question(1)
    assert q.state == "answered"
    assert q.first_response_at - q.created_at == timedelta(minutes=12)

    # Someone else may not rate it; nothing changes.
    await chat.bot.press("rate:1:u", by=chat.liu, on=answer)
    assert "只有提问的居民" in (chat.bot.notices[-1][1] or "")
    assert chat.app.store.question(1).state == "answered"

    await chat.bot.press("rate:1:s", by=chat.wang, on=answer)
    assert chat.app.store.question(1).state == "resolved"
    assert ratings(chat.app.store, 1) == ["satisfied"]


async def test_reply_by_number_in_private_and_free_text(chat):
    await chat.ask("电梯坏了什么时候修？")
    posted = await chat.bot.say("2", by=chat.zhang)
    assert any(p.chat_id == "xingfuli" and p.text.startswith("【Q1 答复】") for p in posted)
    assert "已发布 Q1" in posted[-1].text

    await chat.ask("公交站什么时候恢复？", by=chat.liu)
    posted = await chat.bot.say("/reply Q2 本月25日完工后恢复停靠。", by=chat.li)
    answer = next(p for p in posted if p.chat_id == "xingfuli")
    assert "本月25日完工后恢复停靠。" in answer.text
    assert "李娜" in answer.text
    assert chat.app.store.question(2).state == "answered"


async def test_platform_reply_to_the_question_counts_as_answer(chat):
    posted = await chat.ask("小区门口路灯不亮了")
    question = chat.app.store.question(1)
    chat.clock.advance(hours=2)
    after = await chat.bot.say(
        "已经联系物业，今晚修好",
        by=chat.zhang,
        chat=chat.group,
        reply_to=question.platform_message_id,
    )
    assert chat.app.store.question(1).state == "answered"
    assert any(p.button_data() == ["rate:1:s", "rate:1:b", "rate:1:u"] for p in after)
    counts = engagement_counts(chat.app.store, 1)
    assert counts.get("answer") == 1 and "chat" not in counts
    assert posted  # the ack was posted earlier


async def test_unsatisfied_reopens_and_tells_the_official(chat):
    await chat.ask("楼道漏水很严重")
    refused = await chat.bot.say("/rate Q1 满意", by=chat.wang, chat=chat.group)
    assert refused[0].text == "Q1 还没有答复，答复后再评价。"  # nothing to rate yet
    await chat.bot.say("/reply Q1 已安排维修", by=chat.zhang)
    posted = await chat.bot.say("不满意，说了好几次了", by=chat.wang, chat=chat.group)
    assert chat.app.store.question(1).state == "reopened"
    assert any(p.chat_id == "zhangwei" and "不满意" in p.text for p in posted)
    await chat.bot.say("/reply Q1 维修队今天下午上门", by=chat.zhang)
    await chat.bot.say("满意", by=chat.wang, chat=chat.group)
    assert chat.app.store.question(1).state == "resolved"
    assert ratings(chat.app.store, 1) == ["unsatisfied", "satisfied"]


async def test_status_in_chinese_and_slash_form(chat):
    await chat.ask("电梯什么时候修？")
    posted = await chat.ask("进度 Q1")
    assert "Q1：待答复" in posted[0].text and "11月16日 17:30" in posted[0].text
    posted = await chat.bot.say("/status q1", by=chat.wang, chat=chat.group)
    assert "Q1：待答复" in posted[0].text
    chat.clock.advance(hours=10)
    posted = await chat.bot.say("/status Q1", by=chat.wang, chat=chat.group)
    assert "已超过承诺时间" in posted[0].text
    posted = await chat.bot.say("/status Q99", by=chat.wang, chat=chat.group)
    assert "没有找到问题 Q99" in posted[0].text


async def test_residents_cannot_see_other_chats_questions(chat):
    await chat.ask("电梯坏了", by=chat.wang)
    stranger = chat.bot.person("路人", "stranger")
    posted = await chat.bot.say("/status Q1", by=stranger)
    assert "没有找到问题 Q1" in posted[0].text


async def test_commands_need_roles_and_refusals_change_nothing(chat):
    await chat.ask("电梯坏了")
    for command in ("/reply Q1 好的", "/speak 大家好", "/digest", "/transfer Q1 交通运输局"):
        posted = await chat.bot.say(command, by=chat.wang, chat=chat.group)
        assert "仅限工作人员" in posted[0].text, command
    posted = await chat.bot.say("/summary 7d", by=chat.zhang)
    assert "仅限督查人员" in posted[0].text
    assert chat.app.store.question(1).state == "open"
    assert engagement_counts(chat.app.store, 1) == {}


async def test_speak_to_one_group_or_all(chat):
    posted = await chat.bot.say("/speak #阳光花园 周六活动", by=chat.li)
    assert "没有「阳光花园」" in posted[0].text and "yangguang" in posted[0].text
    await chat.bot.say("大家好", by=chat.wang, chat=chat.other_group)  # the bot learns the title
    posted = await chat.bot.say("/speak 周四停水，请提前储水", by=chat.li)
    groups = {p.chat_id for p in posted if p.text.startswith("【公告】")}
    assert groups == {"xingfuli", "yangguang"}
    posted = await chat.bot.say("/speak #阳光花园 周六垃圾分类宣传", by=chat.li)
    assert {p.chat_id for p in posted if p.text.startswith("【公告】")} == {"yangguang"}
    assert engagement_counts(chat.app.store, 2)["speak"] == 3
    # Inside a group an announcement stays there, unless the official says 全部.
    posted = await chat.bot.say("/speak 今晚停电检修", by=chat.li, chat=chat.group)
    assert {p.chat_id for p in posted if p.text.startswith("【公告】")} == {"xingfuli"}
    posted = await chat.bot.say("/speak 全部 明天停水", by=chat.li, chat=chat.group)
    notices = [p for p in posted if p.text.startswith("【公告】")]
    assert {p.chat_id for p in notices} == {"xingfuli", "yangguang"}
    assert all(p.text.startswith("【公告】明天停水\n") for p in notices)


async def test_digest_since_the_last_one(chat):
    await chat.bot.say("建议小区多装几个快递柜", by=chat.liu, chat=chat.group)
    await chat.ask("电梯坏了什么时候修？")
    chat.clock.advance(minutes=5)
    posted = await chat.bot.say("潜水", by=chat.zhang)
    text = posted[0].text
    assert "新问题 1 个" in text and "Q1" in text
    assert "快递柜" in text  # the suggestion is flagged
    hot = text.split("热词：")[1]
    assert "快递" in hot and not {"政务", "助手", "政务助手"} & set(re.findall(r"(\w+)\(", hot))
    chat.clock.advance(minutes=5)
    posted = await chat.bot.say("/digest", by=chat.zhang)
    assert "新问题 0 个" in posted[0].text
    assert "待答复 1 个" in posted[0].text
    assert engagement_counts(chat.app.store, 1)["lurk"] == 2


async def test_digest_marks_a_label_the_classifier_is_unsure_of(chat):
    unsure = "垃圾分类活动我报名"  # a sign-up, not a proposal
    guess = chat.app.services.text.intent(unsure)
    assert guess.label == "suggestion" and not guess.confident  # what this dialogue is about
    await chat.bot.say(unsure, by=chat.liu, chat=chat.group)
    await chat.bot.say("建议小区多装几个快递柜", by=chat.wang, chat=chat.group)
    text = (await chat.bot.say("潜水", by=chat.zhang))[0].text
    assert "刘先生（疑似建议）：垃圾分类活动我报名" in text
    assert "王阿姨（建议）：建议小区多装几个快递柜" in text
    # The supervisor's summary counts and lists only the suggestion it is sure of.
    chat.clock.advance(minutes=1)
    text = (await chat.bot.say("/summary 7d", by=chat.chen))[0].text
    assert "建议1" in text and "居民建议 1 条" in text
    assert "快递柜" in text and "垃圾分类活动我报名" not in text


async def test_an_anonymous_administrator_is_told_how_to_be_recognised(chat):
    admin = Person("test", "anonymousxingfuli", "匿名管理员", anonymous=True)
    await chat.ask("电梯坏了什么时候修？")
    question = chat.app.store.question(1)
    for attempt in (
        chat.bot.say("/reply Q1 1", by=admin, chat=chat.group),
        chat.bot.say("明天修好", by=admin, chat=chat.group, reply_to=question.platform_message_id),
        chat.bot.say("@政务助手 大家注意电梯安全", by=admin, chat=chat.group),
    ):
        [notice] = await attempt
        assert "匿名管理员身份" in notice.text and "关闭「保持匿名」" in notice.text
    assert await chat.bot.say("大家注意安全", by=admin, chat=chat.group) == []  # not for the bot
    assert chat.app.store.question(1).state == "open"
    assert chat.app.store.question(2) is None
    # Nothing the anonymous sender wrote counts as a resident's message.
    assert chat.app.store.digest(1, None, chat.clock.now).message_count == 1


async def test_transfer_moves_question_and_tells_resident(chat):
    await chat.ask("小区门口的公交站台什么时候修好？")
    # No one on the roster works for 生态环境局: the transfer is refused, the ticket stays put.
    posted = await chat.bot.say("/transfer Q1 生态环境局 误派", by=chat.zhang)
    assert "生态环境局 暂无承办人" in posted[0].text
    assert not any(p.chat_id == "xingfuli" for p in posted)
    assert chat.app.store.question(1).department == "交通运输局"
    posted = await chat.bot.say("/transfer Q1 不存在局", by=chat.zhang)
    assert "没有名为 不存在局 的部门" in posted[0].text
    assert states(chat.app.store, 1) == ["open"]
    posted = await chat.bot.say("转交 Q1 交通运输局", by=chat.zhang)  # the everyday word works too
    assert chat.app.store.question(1).department == "交通运输局"
    assert chat.app.store.question(1).assignee_name == "李娜"  # the group's official of it


async def test_supervisor_summary(chat):
    await chat.bot.say("建议在小区门口增设快递柜", by=chat.liu, chat=chat.group)
    await chat.ask("电梯坏了什么时候修？")
    chat.clock.advance(minutes=30)
    await chat.bot.say("/reply Q1 明天上午修好", by=chat.zhang)
    await chat.bot.say("满意", by=chat.wang, chat=chat.group)
    await chat.ask("公交站什么时候恢复？", by=chat.liu)
    chat.clock.advance(hours=30)
    posted = await chat.bot.say("统计 7d", by=chat.chen)
    text = posted[0].text
    assert "问题 2 个，已答复 1，按时 1，超时未答 1" in text
    assert "满意率 100.0%" in text and "首次响应中位数 30分钟" in text
    assert "超时未答复：Q2" in text
    assert "居民建议 1 条" in text and "［幸福里小区］刘先生：建议在小区门口增设快递柜" in text
    posted = await chat.bot.say("/summary yesterday-ish", by=chat.chen)
    assert "无法识别的时间范围" in posted[0].text


async def test_help_depends_on_role(chat):
    resident = (await chat.bot.say("/help", by=chat.wang))[0].text
    official = (await chat.bot.say("帮助", by=chat.zhang))[0].text
    supervisor = (await chat.bot.say("/help", by=chat.chen))[0].text
    assert "/reply" not in resident and "/reply" in official and "/summary" not in official
    assert "/summary" in supervisor
    posted = await chat.bot.say("/frobnicate", by=chat.wang, chat=chat.group)
    assert "没有「/frobnicate」这个命令" in posted[0].text


async def test_bind_with_one_time_code(chat):
    code = chat.app.store.create_invite("张伟", chat.clock.now)
    newcomer = chat.bot.person("张伟的新号", "zw2")
    posted = await chat.bot.say("/bind WRONG123", by=newcomer)
    assert "绑定码无效" in posted[0].text
    posted = await chat.bot.say(f"绑定 {code.lower()}", by=newcomer)
    assert "绑定成功" in posted[0].text
    assert chat.app.store.official_for_identity("test", "zw2").name == "张伟"
    other = chat.bot.person("别人", "someone")
    posted = await chat.bot.say(f"/bind {code}", by=other)
    assert "已经使用过" in posted[0].text
    assert chat.app.store.official_for_identity("test", "someone") is None


async def test_same_message_delivered_twice_is_acted_on_once(chat):
    first = await chat.bot.say("@政务助手 电梯坏了", by=chat.wang, chat=chat.group, message_id="42")
    again = await chat.bot.say("@政务助手 电梯坏了", by=chat.wang, chat=chat.group, message_id="42")
    assert first and again == []
    assert chat.app.store.question(2) is None


async def test_edited_question_updates_stored_text(chat):
    await chat.bot.say("@政务助手 电梯坏了", by=chat.wang, chat=chat.group, message_id="7")
    await chat.bot.edit("7", "@政务助手 3号楼电梯坏了", by=chat.wang, chat=chat.group)
    assert chat.app.store.question(1).text == "3号楼电梯坏了"


async def test_traditional_chinese_question_and_rating(chat):
    posted = await chat.ask("請問小區電梯壞了什麼時候修好？")
    assert "Q1" in posted[0].text
    assert chat.app.store.question(1).department == "住房和城乡建设局"
    await chat.bot.say("/reply Q1 明天修好", by=chat.zhang)
    await chat.bot.say("滿意", by=chat.wang, chat=chat.group)
    assert chat.app.store.question(1).state == "resolved"


async def test_official_joining_a_group_starts_answering_there(chat):
    newgroup = chat.bot.group("创业路商户群", "chuangye")
    await chat.bot.membership(newgroup, chat.zhang, joined=True)
    assert [g.chat_id for g in chat.app.store.groups_of(1)] == ["xingfuli", "chuangye"]
    await chat.bot.membership(newgroup, chat.zhang, joined=False)
    assert [g.chat_id for g in chat.app.store.groups_of(1)] == ["xingfuli"]


async def test_official_group_messages_count_as_chat(chat):
    await chat.bot.say("大家好，我是街道的张伟", by=chat.zhang, chat=chat.group)
    assert engagement_counts(chat.app.store, 1) == {"chat": 1}


async def test_a_failing_handler_apologises_without_traceback(chat, caplog):
    from bot.routes import Observer, RouteTable

    async def broken(ctx):
        raise RuntimeError("boom")

    table = chat.app.dispatcher.routes
    chat.app.dispatcher.routes = RouteTable(
        (Observer("broken", broken, lambda ctx: True), *table.observers), table.routes
    )
    posted = await chat.ask("电梯坏了")
    assert len(posted) == 1
    assert (
        "抱歉" in posted[0].text
        and "Traceback" not in posted[0].text
        and "boom" not in posted[0].text
    )
    assert "boom" in caplog.text


async def test_an_acknowledgement_that_cannot_be_sent_still_alerts_the_official(
    chat, monkeypatch, caplog
):
    post = chat.bot.send

    async def group_unreachable(message):
        if not message.is_private:
            raise ConnectionError("network down")  # what an adapter raises after its retries
        return await post(message)

    monkeypatch.setattr(chat.bot, "send", group_unreachable)
    posted = await chat.ask("3号楼电梯又坏了，什么时候能修好？")
    assert [p.chat_id for p in posted] == [
        "zhangwei"
    ]  # no apology into the dead chat, just the alert
    assert "3号楼电梯又坏了" in posted[0].text and posted[0].button_data()[0] == "pick:1:1"
    assert chat.app.store.question(1).state == "open"
    assert "could not send the acknowledgement of Q1" in caplog.text
    monkeypatch.undo()
    answered = await chat.bot.press("pick:1:1", by=chat.zhang, on=posted[0])  # answers as usual
    assert [p.text.startswith("【Q1 答复】") for p in answered if p.chat_id == "xingfuli"] == [True]
    assert chat.app.store.question(1).state == "answered"


def group_sends_fail(chat, monkeypatch, failures):
    """Make the bot's group posts raise ``failures[chat_id]`` (private messages still go out)."""
    post = chat.bot.send

    async def send(message):
        if not message.is_private and message.chat_id in failures:
            raise failures[message.chat_id]
        return await post(message)

    monkeypatch.setattr(chat.bot, "send", send)


async def test_an_alert_that_cannot_be_sent_does_not_trouble_the_resident(
    chat, monkeypatch, caplog
):
    post = chat.bot.send

    async def officials_unreachable(message):
        if message.is_private:
            raise ConnectionError("network down")  # what an adapter raises after its retries
        return await post(message)

    monkeypatch.setattr(chat.bot, "send", officials_unreachable)
    posted = await chat.ask("电梯坏了什么时候修？")
    assert [p.text[:13] for p in posted] == ["已收到您的问题，编号 Q1"]  # no apology after it
    assert chat.app.store.question(1).state == "open"
    assert "could not send private message to official 张伟" in caplog.text


async def test_an_answer_the_platform_may_not_have_posted_is_not_recorded(chat, monkeypatch):
    await chat.ask("电梯坏了什么时候修？")
    group_sends_fail(chat, monkeypatch, {"xingfuli": DeliveryUncertain("no answer from telegram")})
    posted = await chat.bot.say("/reply Q1 1", by=chat.zhang)
    [told] = posted
    assert told.chat_id == "zhangwei"
    assert "没有收到平台确认" in told.text and "到群里查看" in told.text
    assert "抱歉" not in told.text  # not the generic apology
    assert chat.app.store.question(1).state == "open"
    assert "answer" not in engagement_counts(chat.app.store, 1)
    monkeypatch.undo()
    # It had in fact appeared: a reply to the resident's question in the group records it.
    question = chat.app.store.question(1)
    await chat.bot.say(
        "已答复，见上", by=chat.zhang, chat=chat.group, reply_to=question.platform_message_id
    )
    assert chat.app.store.question(1).state == "answered"


async def test_an_answer_the_platform_refuses_tells_the_official_why(chat, monkeypatch):
    await chat.ask("电梯坏了什么时候修？")
    group_sends_fail(chat, monkeypatch, {"xingfuli": Undeliverable("bot was kicked")})
    [told] = await chat.bot.say("/reply Q1 明天修好", by=chat.zhang)
    assert "未能发出" in told.text and "移出群" in told.text
    assert chat.app.store.question(1).state == "open"


async def test_an_announcement_one_group_cannot_take_still_reaches_the_others(
    chat, monkeypatch, caplog
):
    await chat.bot.say("大家好", by=chat.wang, chat=chat.other_group)  # the bot learns the title
    group_sends_fail(chat, monkeypatch, {"xingfuli": ConnectionError("network down")})
    posted = await chat.bot.say("/speak 全部 明天停水", by=chat.li)
    assert [p.chat_id for p in posted if p.text.startswith("【公告】")] == ["yangguang"]
    report = posted[-1].text
    assert "已发布到 1 个群：阳光花园" in report and "未能发布" in report and "xingfuli" in report
    assert engagement_counts(chat.app.store, 2)["speak"] == 1
    assert "could not send announcement to xingfuli" in caplog.text
    monkeypatch.undo()
    group_sends_fail(chat, monkeypatch, {"yangguang": DeliveryUncertain("no answer")})
    posted = await chat.bot.say("/speak 全部 今晚停电", by=chat.li)
    report = posted[-1].text
    assert "已发布到 1 个群" in report and "未收到平台确认" in report and "阳光花园" in report
    assert engagement_counts(chat.app.store, 2)["speak"] == 2


async def test_resident_text_is_never_rendered_as_a_template(chat):
    await chat.ask("{{ 7*7 }} {% for x in y %} 电梯坏了怎么办？")
    alert = next(p for p in chat.bot.outbox if p.chat_id == "zhangwei")
    assert "{{ 7*7 }} {% for x in y %}" in alert.text
    assert "49" not in alert.text


async def test_question_without_officials_is_still_acknowledged(chat):
    nobody = chat.bot.group("无人群", "nobody")
    # No official serves the group: its department (交通运输局) takes it, and 李娜 is told.
    posted = await chat.ask("公交站台什么时候修？", chat=nobody)
    assert "由李娜负责办理" in posted[0].text
    assert any(p.chat_id == "lina" and "公交站台" in p.text for p in posted)
    # Nor can the department be told: the supervisors' queue, never nobody.
    posted = await chat.ask("这个事情怎么办呢？", chat=nobody)
    assert "已交督查人员分派" in posted[0].text
    assert any(p.chat_id == "chenjing" and "待分派 Q2" in p.text for p in posted)


async def test_outgoing_to_an_unconnected_platform_is_not_lost_silently(chat):
    with pytest.raises(Exception, match="no adapter"):
        await chat.app.dispatcher.send(OutgoingMessage(platform="wechat", chat_id="x", text="hi"))


async def test_overdue_questions_are_escalated_once(chat):
    from handlers.overdue import OverdueReminder

    reminder = OverdueReminder(chat.app.dispatcher)
    await chat.ask("电梯坏了什么时候修？")  # 咨询, due at 17:30 the same Monday
    chat.clock.advance(hours=8, minutes=59)
    assert await reminder.run_once() == []
    chat.clock.advance(minutes=2)
    before = len(chat.bot.outbox)
    assert [q.number for q in await reminder.run_once()] == ["Q1"]
    sent = chat.bot.outbox[before:]
    assert {p.chat_id for p in sent} == {"zhangwei", "chenjing", "xingfuli"}
    apology = next(p for p in sent if p.chat_id == "xingfuli")
    assert "非常抱歉" in apology.text and "王阿姨" in apology.text
    assert apology.message.reply_to_message_id == chat.app.store.question(1).platform_message_id
    assert await reminder.run_once() == []  # once per wait

    # Answered late, rated 不满意: the question waits again with a fresh deadline (one working day
    # from now), and is escalated again only once that passes.
    await chat.bot.say("/reply Q1 正在协调维修", by=chat.zhang)
    posted = await chat.bot.say("不满意", by=chat.wang, chat=chat.group)
    # After hours on Monday: the fresh working day is Tuesday's, 09:00-17:30.
    assert "11月17日 17:30" in next(p.text for p in posted if p.chat_id == "xingfuli")
    assert await reminder.run_once() == []
    chat.clock.advance(days=1, minutes=1)
    assert [q.number for q in await reminder.run_once()] == ["Q1"]


async def test_an_unreachable_group_does_not_cost_other_questions_their_escalation(
    chat, monkeypatch, caplog
):
    from handlers.overdue import OverdueReminder

    reminder = OverdueReminder(chat.app.dispatcher)
    await chat.ask("电梯坏了什么时候修？")
    await chat.ask("小区门口的路灯坏了", by=chat.liu, chat=chat.other_group)
    chat.clock.advance(days=7)  # past any time limit (投诉: 5 working days)
    group_sends_fail(chat, monkeypatch, {"xingfuli": ConnectionError("network down")})
    before = len(chat.bot.outbox)
    # Both are claimed in one go; Q1's failed apology must not leave Q2 unescalated for good.
    assert [q.number for q in await reminder.run_once()] == ["Q1", "Q2"]
    sent = chat.bot.outbox[before:]
    alerts = [p.text for p in sent if p.chat_id == "chenjing" and "【超时督办" in p.text]
    assert [a.startswith("【超时督办 Q1】") for a in alerts] == [True, False]
    assert alerts[1].startswith("【超时督办 Q2】")
    assert [p.chat_id for p in sent if "非常抱歉" in p.text] == ["yangguang"]
    assert "could not send the apology for overdue Q1" in caplog.text
    assert await reminder.run_once() == []


async def test_bare_digits_rate_only_while_an_answer_awaits_rating(chat):
    posted = await chat.bot.say("1", by=chat.wang, chat=chat.group)
    assert posted == []  # nothing to rate: just talk
    await chat.ask("电梯坏了什么时候修？")
    await chat.bot.say("/reply Q1 明天修好", by=chat.zhang)
    posted = await chat.bot.say("2", by=chat.wang, chat=chat.group)
    assert "基本满意" in posted[0].text
    assert ratings(chat.app.store, 1) == ["basically_satisfied"]
    assert (
        await chat.bot.say("3", by=chat.wang, chat=chat.group) == []
    )  # resolved: no longer a rating


async def test_a_question_no_template_fits(chat):
    posted = await chat.ask("{{ 7*7 }} <b>x</b>")
    private = [p for p in posted if p.chat_id == "zhangwei"]
    assert "{{ 7*7 }} <b>x</b>" in private[0].text  # the resident's text, as typed, never rendered
    assert "暂无合适模板" in private[0].text
    posted = await chat.bot.say("/reply Q1 2", by=chat.zhang)
    assert "Q1 暂无推荐答复" in posted[0].text and "/reply Q1 您的答复内容" in posted[0].text
    assert chat.app.store.question(1).state == "open"
