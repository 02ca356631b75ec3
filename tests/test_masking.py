"""Residents' personal data is masked in every output channel that reaches more than the handling
official (digest, summary, report table / markdown / csv, supervisors' overdue alert, transfer notice,
status, the audit log), and a supervisor or admin can see one ticket unmasked, privately, audited."""

from __future__ import annotations

import re

import pytest

from bot.routes import PRIVATE_NOTE
from handlers.overdue import OverdueReminder
from handlers.summary import HOT_PHRASES, format_summary, hot_topics
from handlers.unmask import AUDITED_NOTE

pytestmark = pytest.mark.asyncio

RAW = {
    "phone": "13812341111",
    "id": "110101199003071234",
    "card": "6222021234567890123",
    "email": "zhang.san@example.com",
}
MASKED = {
    "phone": "138****1111",
    "id": "110101********1234",
    "card": "***************0123",
    "email": "z***@example.com",
}
CONTACTS = f"电话{RAW['phone']}，身份证{RAW['id']}，银行卡{RAW['card']}，邮箱{RAW['email']}"
QUESTION = f"3号楼电梯坏了，物业不管。{CONTACTS}"
SUGGESTION = f"建议小区门口增加快递柜。{CONTACTS}"


def no_raw_data(text: str, where: str) -> None:
    """None of the raw values, nor a long piece of one (a clipped preview must not leak it)."""
    for kind, value in RAW.items():
        for piece in (value, value[:7]):
            assert piece not in text, (where, kind, piece, text)
    assert "zhang" not in text, (where, "the e-mail's name", text)


def shows_masked(text: str, where: str, *kinds: str) -> None:
    for kind in kinds or MASKED:
        assert MASKED[kind] in text, (where, kind, text)


async def question_and_suggestion(chat) -> None:
    """Q1 with every kind of personal data, assigned to 张伟; a suggestion with the same in 幸福里."""
    posted = await chat.ask(QUESTION)
    alert = next(p for p in posted if p.chat_id == "zhangwei")
    assert RAW["phone"] in alert.text  # the handling official sees it as written
    await chat.bot.say(SUGGESTION, by=chat.liu, chat=chat.group)
    chat.clock.advance(minutes=5)


async def test_digest(chat):
    await question_and_suggestion(chat)
    [digest] = await chat.bot.say("/digest", by=chat.li)  # 李娜 serves 幸福里, not the assignee
    no_raw_data(digest.text, "digest")
    shows_masked(digest.text, "digest", "phone")


async def test_a_clipped_preview_does_not_leak_part_of_a_number(chat):
    # The number starts where previews are cut (40 characters): masked before cutting.
    await chat.ask("小区" * 19 + f"请联系{RAW['phone']}")
    chat.clock.advance(minutes=5)
    [digest] = await chat.bot.say("/digest", by=chat.li)
    assert re.search(r"\d{5,}", digest.text.split("\n", 1)[1]) is None, digest.text


async def test_summary(chat):
    await question_and_suggestion(chat)
    [summary] = await chat.bot.say("/summary 7d", by=chat.chen)
    no_raw_data(summary.text, "summary")
    shows_masked(summary.text, "summary", "phone")


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
async def test_report(chat, fmt):
    await question_and_suggestion(chat)
    store, now = chat.app.store, chat.clock.now
    found = store.summary(now.replace(day=now.day - 1), now, now, phrase_support=HOT_PHRASES)
    hot = hot_topics(found)
    report = format_summary(found, fmt, chat.app.settings.bot.zone, hot)
    no_raw_data(report, fmt)
    if fmt != "csv":  # csv holds figures only
        shows_masked(report, fmt)


async def test_supervisors_overdue_alert(chat):
    await question_and_suggestion(chat)
    chat.clock.advance(days=10)  # past any working-day deadline
    before = len(chat.bot.outbox)
    await OverdueReminder(chat.app.dispatcher).run_once()
    sent = chat.bot.outbox[before:]
    [supervisor] = [
        p.text for p in sent if p.chat_id == "chenjing" and p.text.startswith("【超时督办 ")
    ]
    no_raw_data(supervisor, "overdue alert")
    shows_masked(supervisor, "overdue alert")


async def test_transfer_notice(chat):
    await question_and_suggestion(chat)
    posted = await chat.bot.say("/transfer Q1 交通运输局", by=chat.zhang)
    [notice] = [p.text for p in posted if p.chat_id == "lina"]
    no_raw_data(notice, "transfer notice")
    shows_masked(notice, "transfer notice")


async def test_status_shows_no_text(chat):
    await question_and_suggestion(chat)
    for by in (chat.chen, chat.zhang, chat.wang):
        [status] = await chat.bot.say("/status Q1", by=by)
        no_raw_data(status.text, "status")
        assert "Q1" in status.text


async def test_audit_log(chat):
    await question_and_suggestion(chat)
    await chat.bot.say(f"/reply Q1 已联系您（{CONTACTS}）", by=chat.zhang)
    [line] = chat.app.store.audit_since(chat.clock.now.replace(year=2000))
    no_raw_data(line.detail, "audit")
    shows_masked(line.detail, "audit", "phone")


async def test_a_supervisor_sees_one_ticket_unmasked_privately_and_it_is_audited(chat):
    await question_and_suggestion(chat)
    [full] = await chat.bot.say("/unmask Q1", by=chat.chen)
    assert full.chat_id == "chenjing" and QUESTION in full.text and AUDITED_NOTE in full.text
    # In a group: only the note; an official: the role refusal; nothing unmasked anywhere.
    assert [p.text for p in await chat.bot.say("/unmask Q1", by=chat.chen, chat=chat.group)] == [
        PRIVATE_NOTE
    ]
    [refused] = await chat.bot.say("/unmask Q1", by=chat.li)
    assert "督查人员" in refused.text and RAW["phone"] not in refused.text
    found = chat.app.store.audit_since(chat.clock.now.replace(year=2000))
    assert [(r.actor, r.outcome, r.reason, r.subject) for r in found] == [
        ("test:chenjing", "unmasked", "", "Q1"),
        ("test:chenjing", "refused", "private only", "Q1"),
        ("test:lina", "refused", "role", "Q1"),
    ]


async def test_a_supervisor_may_not_unmask_outside_the_jurisdiction(chat):
    store = chat.app.store
    chen = store.official_for_identity("test", "chenjing")
    store.unassign(chen.id, "test", "xingfuli")  # her jurisdiction is 阳光花园 alone now
    await question_and_suggestion(chat)  # Q1 in 幸福里
    [refused] = await chat.bot.say("/unmask Q1", by=chat.chen)
    no_raw_data(refused.text, "refused unmask")
    assert "不属于您负责" in refused.text
    [line] = store.audit_since(chat.clock.now.replace(year=2000))
    assert (line.action, line.outcome, line.reason) == ("unmask", "refused", "out of scope")
