"""同问 as dialogues: a question about the topic of an open ticket of its group, or of a group listed
near it, is linked to it, its asker is told so and answered with the ticket, officials link and unlink
by hand, and the digest lists a linked question once under its ticket (issue 17)."""

from __future__ import annotations

import pytest

from dialogue_support import ROSTER
from handlers.overdue import OverdueReminder
from tests_support import engagement_counts, ratings

pytestmark = pytest.mark.asyncio


def answers_in(chat, chat_id: str) -> list[str]:
    return [p.text for p in chat.to(chat_id) if "答复】" in p.text]


async def test_a_duplicate_question_is_linked_and_its_asker_answered(chat):
    await chat.ask("又停水了，什么时候来水？", by=chat.wang)
    chat.clock.advance(minutes=20)
    posted = await chat.ask("我家也停水了，什么时候恢复供水？", by=chat.liu)

    # The second asker is told the problem is handled under Q1 and will get its answer.
    ack = next(p for p in posted if p.chat_id == "xingfuli")
    assert "与 Q1 相同" in ack.text and "Q2" in ack.text and "已有 2 位居民反映" in ack.text
    assert ack.message.mention_user_ids == ("liu",)
    # The officials hear how many asked, instead of a second ticket to answer.
    alerts = [p.text for p in posted if p.chat_id in ("zhangwei", "lina")]
    assert alerts and all(t.startswith("【同问】Q1") and "共 2 人同问" in t for t in alerts)
    assert chat.app.store.question(2).due_at == chat.app.store.question(1).due_at

    posted = await chat.bot.say("/reply Q1 今晚8点前恢复供水，请提前储水。", by=chat.zhang)
    answers = answers_in(chat, "xingfuli")
    assert any(t.startswith("【Q1 答复】今晚8点前恢复供水") for t in answers)
    linked = next(p for p in posted if p.chat_id == "xingfuli" and p.text.startswith("【Q2 答复】"))
    assert "（与 Q1 同问）今晚8点前恢复供水" in linked.text
    assert linked.message.mention_user_ids == ("liu",)
    assert linked.button_data() == ["rate:2:s", "rate:2:b", "rate:2:u"]
    assert "同问的 1 位居民也已收到" in posted[-1].text
    assert chat.app.store.question(2).state == "answered"

    # Each asker rates their own answer.
    await chat.bot.press("rate:2:u", by=chat.liu, on=linked)
    await chat.bot.press("rate:1:s", by=chat.wang, on=linked)
    assert chat.app.store.question(2).state == "reopened"
    assert chat.app.store.question(1).state == "resolved"
    assert ratings(chat.app.store, 2) == ["unsatisfied"]
    assert engagement_counts(chat.app.store, 1)["answer"] == 2
    posted = await chat.bot.say("/summary today", by=chat.chen)
    assert "同问 1 个" in posted[0].text


async def test_a_linked_question_follows_its_tickets_supervision(chat):
    # Q2 is the same problem as Q1: one 督办 speaks for both, not one per asker.
    await chat.ask("又停水了，什么时候来水？", by=chat.wang)
    chat.clock.advance(minutes=20)
    linked = await chat.ask("我家也停水了，什么时候恢复供水？", by=chat.liu)
    assert any("与 Q1 相同" in p.text for p in linked)
    chat.clock.advance(days=10)  # past every stage of the working-day deadline
    before = len(chat.bot.outbox)
    await OverdueReminder(chat.app.dispatcher).run_once()
    texts = [p.text for p in chat.bot.outbox[before:]]
    assert any("超时督办 Q1" in t for t in texts)
    assert not any("Q2" in t.split("\n")[0] for t in texts), texts


async def test_other_groups_other_topics_and_old_tickets_are_not_linked(chat):
    await chat.ask("又停水了，什么时候来水？", by=chat.wang)
    posted = await chat.ask("小区门口路灯不亮了", by=chat.liu)
    assert "编号 Q2" in posted[0].text and "相同" not in posted[0].text
    posted = await chat.ask("我们这也停水了，什么时候来水？", by=chat.liu, chat=chat.other_group)
    assert "编号 Q3" in posted[0].text and "相同" not in posted[0].text
    # 72 hours ([opinion] duplicate_hours) later the same topic is a new ticket again.
    chat.clock.advance(hours=73)
    posted = await chat.ask("怎么又停水了？", by=chat.liu)
    assert "编号 Q4" in posted[0].text and "相同" not in posted[0].text


async def test_officials_link_and_unlink_by_hand_within_their_scope(chat):
    await chat.ask("3号楼电梯又坏了", by=chat.wang)
    await chat.ask("电梯按钮不灵，困了人", by=chat.liu)
    await chat.ask("公交站什么时候恢复？", by=chat.liu, chat=chat.other_group)

    posted = await chat.bot.say("/link Q1 Q2", by=chat.zhang)
    assert "已将 Q2 并入 Q1 办理（共 2 位居民同问）" in posted[0].text
    told = [p for p in posted if p.chat_id == "xingfuli"]
    assert len(told) == 1 and "已并入 Q1" in told[0].text
    # The yangguang question is not 张伟's (another group, another department).
    posted = await chat.bot.say("/link Q1 Q3", by=chat.zhang)
    assert "不属于您负责" in posted[0].text
    posted = await chat.bot.say("/link Q1", by=chat.zhang)
    assert "用法" in posted[0].text
    # Typed in a group, it only says to ask privately.
    posted = await chat.bot.say("/link Q1 Q2", by=chat.zhang, chat=chat.group)
    assert "私聊" in posted[0].text

    posted = await chat.bot.say("/unlink Q2", by=chat.zhang)
    assert "已取消 Q2 与 Q1 的关联" in posted[0].text
    await chat.bot.say("/reply Q1 已安排维修", by=chat.zhang)
    assert not any(t.startswith("【Q2 答复】") for t in answers_in(chat, "xingfuli"))
    assert chat.app.store.question(2).state == "open"


async def test_an_answer_given_by_replying_in_the_group_reaches_linked_askers(chat):
    await chat.ask("又停水了，什么时候来水？", by=chat.wang)
    await chat.ask("我家也停水了，什么时候来水？", by=chat.liu)
    ticket = chat.app.store.question(1)
    posted = await chat.bot.say(
        "今晚8点前恢复", by=chat.zhang, chat=chat.group, reply_to=ticket.platform_message_id
    )
    linked = [p for p in posted if p.text.startswith("【Q2 答复】（与 Q1 同问）今晚8点前恢复")]
    assert len(linked) == 1 and linked[0].message.mention_user_ids == ("liu",)
    assert chat.app.store.question(2).state == "answered"


# ------------------------------------------------------------------ the same topic nearby

NEARBY = {"nearby_groups": [["test:xingfuli", "test:yangguang"]]}
"""幸福里小区 and 阳光花园 are neighbours (one water supply area); 红旗新村 is listed with no one."""

NEARBY_ROSTER = [
    *ROSTER,
    {"name": "赵敏", "department": "交通运输局", "identities": ["test:zhaomin"],
     "groups": ["test:yangguang"]},
    {"name": "孙丽", "department": "交通运输局", "identities": ["test:sunli"],
     "groups": ["test:hongqi"]},
]  # fmt: skip


@pytest.fixture
def town(dialogue):
    """Three groups, two of them listed as nearby in [opinion] nearby_groups."""
    town = dialogue(opinion=NEARBY, officials=NEARBY_ROSTER)
    town.hongqi = town.bot.group("红旗新村", "hongqi")
    town.zhao = town.bot.person("赵敏", "zhaomin")
    town.sun = town.bot.person("孙丽", "sunli")
    town.zhou = town.bot.person("周大爷", "zhou")
    return town


async def test_a_question_joins_the_open_ticket_on_its_topic_in_a_nearby_group(town):
    await town.ask("又停水了，什么时候来水？", by=town.wang)
    town.clock.advance(minutes=20)
    posted = await town.ask(
        "我们这也停水了，什么时候恢复供水？", by=town.liu, chat=town.other_group
    )

    # Told in their own group, under the neighbour's ticket number.
    ack = next(p for p in posted if p.chat_id == "yangguang")
    assert "与附近「幸福里小区」的 Q1 相同" in ack.text and "已有 2 位居民反映" in ack.text
    assert "您的编号 Q2" in ack.text and ack.message.mention_user_ids == ("liu",)
    assert not [p for p in posted if p.chat_id == "xingfuli"]  # nothing said in the other group
    # The ticket's handlers and the asker's own group's official hear how many asked.
    told = {p.chat_id: p.text for p in posted if not p.chat_id.endswith(("yangguang", "xingfuli"))}
    assert told["zhaomin"].startswith("【同问】Q1") and "共 2 人同问" in told["zhaomin"]
    assert "［阳光花园］刘先生" in told["zhaomin"]
    assert "sunli" not in told

    # A group listed with no one is not linked, whatever its topic.
    posted = await town.ask("停水了，什么时候来水？", by=town.zhou, chat=town.hongqi)
    assert "编号 Q3" in posted[0].text and "相同" not in posted[0].text
    # A facility belongs to its group: the neighbours' 3号楼电梯 are two buildings.
    await town.ask("3号楼电梯坏了", by=town.wang)
    posted = await town.ask("3号楼电梯坏了，困了人", by=town.liu, chat=town.other_group)
    assert "编号 Q5" in posted[0].text and "相同" not in posted[0].text

    # The answer reaches each asker in their own group; each rates their own.
    posted = await town.bot.say("/reply Q1 今晚8点前恢复供水，请提前储水。", by=town.zhang)
    linked = next(p for p in posted if p.text.startswith("【Q2 答复】"))
    assert linked.chat_id == "yangguang" and linked.message.mention_user_ids == ("liu",)
    assert "（与 Q1 同问）今晚8点前恢复供水" in linked.text
    assert linked.button_data() == ["rate:2:s", "rate:2:b", "rate:2:u"]
    assert not any("Q3 答复" in p.text for p in posted)
    await town.bot.press("rate:2:b", by=town.liu, on=linked)
    assert ratings(town.app.store, 2) == ["basically_satisfied"]
    assert town.app.store.question(3).state == "open"
    # Supervisors count the 同问.
    posted = await town.bot.say("/summary today", by=town.chen)
    assert "同问 1 个" in posted[0].text


async def test_a_nearby_ticket_older_than_the_window_is_not_joined(town):
    await town.ask("又停水了，什么时候来水？", by=town.wang)
    town.clock.advance(hours=73)  # [opinion] duplicate_hours is 72
    posted = await town.ask("停水了，什么时候来水？", by=town.liu, chat=town.other_group)
    assert "编号 Q2" in posted[0].text and "相同" not in posted[0].text


async def test_the_digest_shows_a_linked_question_once_under_its_ticket(town):
    await town.ask("又停水了，什么时候来水？", by=town.wang)
    await town.ask("我家也停水了，什么时候来水？", by=town.zhou)
    await town.ask("我们这也停水了，什么时候恢复？", by=town.liu, chat=town.other_group)
    await town.ask("小区门口路灯不亮了", by=town.zhou)

    text = (await town.bot.say("/digest", by=town.zhang))[0].text
    assert "待答复 2 个" in text and "新问题 2 个" in text
    assert "· Q1（同问 3 人）［幸福里小区］" in text
    assert "  └ 同问 Q2［幸福里小区］周大爷" in text and "  └ 同问 Q3［阳光花园］刘先生" in text
    assert "· Q2" not in text and "· Q3" not in text and "· Q4" in text
    # The neighbour's official sees the ticket their resident joined, once.
    text = (await town.bot.say("/digest", by=town.zhao))[0].text
    assert "待答复 1 个" in text and text.count("· Q1（同问 3 人）") == 1
    assert "· Q3" not in text and "└ 同问 Q3［阳光花园］刘先生" in text
