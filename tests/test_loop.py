"""The closed loop as transcripts: timestamped console lines drive the clock, and the 督办 stages
(reminder, 督办 at the deadline, second level) fire in order, once each, across a restart."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from dialogue_support import CONSOLE_ROSTER, Transcript
from tests_support import engagement_counts, ratings

pytestmark = pytest.mark.asyncio
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def transcript(db_url: str) -> Any:
    built = Transcript(db_url, CONSOLE_ROSTER)
    yield built
    built.app.close()


def local(at: datetime) -> str:
    return f"{at.astimezone(SHANGHAI):%m-%d %H:%M}"


def first_working_day_after(day: date) -> date:
    day += timedelta(days=1)
    while not chinese_calendar.is_workday(day):
        day += timedelta(days=1)
    return day


async def test_timestamped_lines_set_the_clock_and_stages_fire_in_order(transcript):
    posted = await transcript.feed("[2026-09-30 16:00] 王阿姨: @政务助手 3号楼电梯坏了什么时候修？")
    question = transcript.app.store.question(1)
    assert question.created_at == datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    after_holiday = first_working_day_after(date(2026, 9, 30))
    due = datetime.combine(after_holiday, datetime.min.time().replace(hour=16), SHANGHAI)
    assert question.due_at == due and f"{due.month}月{due.day}日 16:00" in posted[0].text

    # The next line is two days after the deadline: the reminder (80% of the working time: 5.6 of
    # 7 working hours, 14:36 on the day after the holiday), then 督办 at the deadline, then the
    # second level one working day later — each before the line itself is handled.
    posted = await transcript.feed("[2026-10-12 09:00] 刘先生: @政务助手 小区路灯不亮")
    texts = [p.text for p in posted]
    reminder = next(i for i, t in enumerate(texts) if "办理提醒 Q1" in t)
    escalation = next(i for i, t in enumerate(texts) if "超时督办 Q1" in t)
    second = next(i for i, t in enumerate(texts) if "二级督办 Q1" in t)
    ack = next(i for i, t in enumerate(texts) if "编号 Q2" in t)
    assert reminder < escalation < second < ack
    assert posted[reminder].chat_id == "张伟" and posted[second].chat_id == "赵局"
    # 督办 tells the official, the supervisor and the group (the group's notice posted first).
    assert {p.chat_id for p in posted[reminder + 1 : second]} >= {"张伟", "陈静", "幸福里小区"}
    steps = {kind: at for kind, at in transcript.history(1)}
    assert local(steps["reminded"]) == f"{after_holiday:%m-%d} 14:36"
    assert local(steps["escalated"]) == f"{after_holiday:%m-%d} 16:00"
    assert local(steps["second_level"]) == f"{first_working_day_after(after_holiday):%m-%d} 16:00"
    assert transcript.app.store.question(2).created_at == datetime(
        2026, 10, 12, 9, 0, tzinfo=SHANGHAI
    )


async def test_each_stage_fires_once_across_a_restart(db_url):
    first = Transcript(db_url, CONSOLE_ROSTER)
    try:
        await first.feed("[2026-11-16 09:00] 王阿姨: @政务助手 电梯坏了什么时候修？")
        await first.feed("[2026-11-18 09:00] 王阿姨: 在吗")
        fired = [kind for kind, _ in first.history(1)]
    finally:
        first.app.close()
    assert fired.count("reminded") == fired.count("escalated") == fired.count("second_level") == 1
    again = Transcript(db_url, CONSOLE_ROSTER)  # a restart: a new process on the same database
    try:
        posted = await again.feed("[2026-11-25 09:00] 王阿姨: 还没人管吗")
        assert not any("督办" in p.text or "办理提醒" in p.text for p in posted)
        assert [kind for kind, _ in again.history(1)] == fired
    finally:
        again.app.close()


async def test_a_line_without_a_time_uses_the_wall_clock(transcript):
    await transcript.feed("[2026-09-30 16:00] 王阿姨: 早上好")
    assert transcript.clock() == datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    await transcript.feed("王阿姨: 现在几点")
    assert transcript.clock().year >= 2026 and transcript.clock.moment is None
    bad = await transcript.feed("[2026-13-40 16:00] 王阿姨: 坏时间")
    assert bad == [] and "时间格式" in transcript.out.getvalue()


# ---------------------------------------------------------------- mistyped numbers, 进度, crediting

MISTYPED = ("/reply Q 2 路灯明天修", "/reply Q", "/reply Q1 100", "/reply Q999999999999999999999 1")


@pytest.mark.parametrize("where", ["group", "private"])
async def test_a_mistyped_ticket_number_publishes_nothing(chat, where):
    await chat.ask(
        "小区门口路灯不亮了，什么时候修？"
    )  # 张伟 gets suggestions: a bare "2" would pick
    for text in MISTYPED:
        before = len(chat.bot.outbox)
        at = chat.group if where == "group" else None
        posted = await chat.bot.say(text, by=chat.zhang, chat=at)
        assert [p.chat_id for p in posted] == ["zhangwei"], text  # privately, nothing else
        assert posted[0].message.is_private
        assert "未发布" in posted[0].text or "有误" in posted[0].text, posted[0].text
        assert not any(p.chat_id == "xingfuli" for p in chat.bot.outbox[before:])
    assert chat.app.store.question(1).state == "open"
    assert "answer" not in engagement_counts(chat.app.store, 1)


async def test_progress_without_a_mention_and_my_questions(chat):
    await chat.ask("电梯坏了什么时候修？")
    await chat.ask("楼道灯不亮", by=chat.wang)
    posted = await chat.bot.say("进度 Q1", by=chat.wang, chat=chat.group)  # as the ack says
    assert len(posted) == 1 and posted[0].text.startswith("Q1：待答复")
    posted = await chat.bot.say("进度Q2", by=chat.wang, chat=chat.group)
    assert posted[0].text.startswith("Q2：")
    assert await chat.bot.say("今天进度 Q1 怎么样了大家", by=chat.liu, chat=chat.group) == []
    for words in ("查进度", "我的问题", "我的問題"):
        [mine] = await chat.ask(words)
        assert "Q1：" in mine.text and "Q2：" in mine.text, words
    assert chat.app.store.question(3) is None  # none of these opened a ticket


async def test_an_answer_is_credited_to_whoever_answered_and_on_time_is_the_final_answer(chat):
    await chat.ask("电梯坏了什么时候修？")  # assigned to 张伟, due Monday 17:30
    await chat.bot.say("/reply Q1 今天安排维修", by=chat.li)  # 李娜 serves the same group
    await chat.bot.say("不满意", by=chat.wang, chat=chat.group)  # reopened: a fresh deadline
    fresh = chat.app.store.question(1).due_at
    chat.clock.now = fresh + timedelta(hours=1)
    await chat.bot.say("/reply Q1 维修队已到场", by=chat.li)
    summary = chat.app.store.summary(fresh - timedelta(days=7), chat.clock.now, chat.clock.now)
    by_name = {t.label: t for t in summary.officials}
    assert by_name["李娜"].answered == 1 and by_name["张伟"].questions == 0
    assert by_name["李娜"].answered_on_time == 0  # the final answer missed the deadline in force
    assert summary.total.answered_on_time == 0


# ---------------------------------------------------------------- a ticket's history


async def test_history_shows_every_step_privately_and_on_the_command_line(chat, db_url, tmp_path):
    import json
    import subprocess
    import sys

    await chat.ask("电梯坏了，电话13812345678，什么时候修？")
    chat.clock.advance(minutes=10)
    await chat.bot.say("/transfer Q1 交通运输局 不是电梯的事", by=chat.zhang)
    chat.clock.advance(minutes=10)
    await chat.bot.say("/reply Q1 明天上午修好", by=chat.li)
    await chat.bot.say("满意", by=chat.wang, chat=chat.group)

    in_group = await chat.bot.say("/history Q1", by=chat.zhang, chat=chat.group)
    assert all(p.chat_id != "xingfuli" or "私聊" in p.text for p in in_group)
    assert not any("办理记录" in p.text for p in in_group if p.chat_id == "xingfuli")
    [private] = await chat.bot.say("/history Q1", by=chat.zhang)
    lines = private.text.splitlines()
    kinds = [line.split("  ")[1] for line in lines[2:]]
    assert kinds == ["受理", "回执", "推荐答复", "转办", "答复", "评价", "办结"], private.text
    assert "13812345678" not in private.text  # 张伟 no longer handles it: masked
    transfer = next(line for line in lines if "  转办  " in line)
    assert "张伟" in transfer and "交通运输局" in transfer
    answer = next(line for line in lines if "  答复  " in line)
    assert "李娜" in answer and "明天上午修好" in answer
    assert "满意" in next(line for line in lines if "  评价  " in line)

    def minyi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "--database", db_url, *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
        )

    shown = minyi("ticket", "show", "Q1", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert [s["kind"] for s in data["steps"]] == [
        "open", "acknowledged", "suggested", "transferred", "answered", "rated", "resolved",
    ]  # fmt: skip
    assert data["steps"][4]["actor"] == "李娜"
    table = minyi("ticket", "show", "q1")
    assert "Q1 办理记录" in table.stdout and "13812345678" not in table.stdout
    listed = minyi("ticket", "list", "--state", "resolved", "--department", "交通运输局")
    assert listed.stdout.startswith("Q1 ")
    assert "没有符合条件" in minyi("ticket", "list", "--overdue").stdout
    wrong = minyi("ticket", "show", "Q99")
    assert wrong.returncode == 2 and "no such ticket" in wrong.stderr


# ---------------------------------------------------------------- extensions


async def test_an_approved_extension_becomes_the_deadline_and_the_resident_is_told(chat):
    from handlers.overdue import OverdueReminder

    await chat.ask("电梯坏了什么时候修？")  # due Monday 16 November, 17:30
    posted = await chat.bot.say("/extend Q1 3d 需要协调物业和维保公司", by=chat.zhang)
    request = next(p for p in posted if p.chat_id == "chenjing")
    assert "延期申请 Q1" in request.text and "11月19日 17:30" in request.text  # 3 working days on
    refused = await chat.bot.say("/approve Q1", by=chat.zhang)
    assert not any(p.chat_id == "xingfuli" for p in refused)  # officials cannot approve
    assert chat.app.store.question(1).extension_due_at is not None

    posted = await chat.bot.say("/approve Q1", by=chat.chen)
    notice = next(p for p in posted if p.chat_id == "xingfuli")
    assert "11月19日 17:30" in notice.text and "协调物业" in notice.text
    assert any(p.chat_id == "zhangwei" and "已批准" in p.text for p in posted)
    question = chat.app.store.question(1)
    assert question.due_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") == "11-19 17:30"
    # The old deadline passes without 督办: the extension is the deadline now.
    chat.clock.advance(hours=10)
    assert await OverdueReminder(chat.app.dispatcher).run_once() == []
    kinds = [s.kind for s in chat.app.store.history(1)]
    assert kinds.count("extension_asked") == 1 and kinds.count("extension_approved") == 1


async def test_a_refused_extension_keeps_the_deadline(chat):
    await chat.ask("电梯坏了什么时候修？")
    await chat.bot.say("/extend Q1 2天 材料未到", by=chat.zhang)
    [listing] = await chat.bot.say("/approve", by=chat.chen)
    assert "Q1 延至" in listing.text
    posted = await chat.bot.say("/approve Q1 驳回 理由不充分", by=chat.chen)
    told = next(p for p in posted if p.chat_id == "zhangwei")
    assert "未获批准" in told.text and "理由不充分" in told.text and "11月16日 17:30" in told.text
    assert not any(p.chat_id == "xingfuli" for p in posted)
    question = chat.app.store.question(1)
    assert question.extension_due_at is None
    assert question.due_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") == "11-16 17:30"
    bad = await chat.bot.say("/extend Q1 很久 原因", by=chat.zhang)
    assert "格式" in bad[0].text


# ---------------------------------------------------------------- transfers and returns


async def test_a_return_goes_back_to_whoever_transferred_and_keeps_the_deadline(chat):
    await chat.ask("电梯坏了什么时候修？")  # 张伟 (住房和城乡建设局)
    due = chat.app.store.question(1).due_at
    await chat.bot.say("/transfer Q1 交通运输局 请协助", by=chat.zhang)
    assert chat.app.store.question(1).assignee_name == "李娜"
    chat.clock.advance(hours=1)
    posted = await chat.bot.say("/return Q1 电梯不属于交通部门", by=chat.li)
    back = next(p for p in posted if p.chat_id == "zhangwei")
    assert "退回 Q1" in back.text and "电梯不属于交通部门" in back.text and "期限不变" in back.text
    assert not any(p.chat_id == "xingfuli" for p in posted)
    question = chat.app.store.question(1)
    assert (question.assignee_name, question.department) == ("张伟", "住房和城乡建设局")
    assert question.due_at == due
    steps = [(s.kind, s.actor) for s in chat.app.store.history(1)]
    assert ("transferred", "张伟") in steps and ("returned", "李娜") in steps
    # Once returned it is no longer theirs to return.
    again = await chat.bot.say("/return Q1 再退", by=chat.li)
    assert "不能" in again[0].text


async def test_a_return_after_the_window_is_refused(chat):
    await chat.ask("电梯坏了什么时候修？")
    await chat.bot.say("/transfer Q1 交通运输局", by=chat.zhang)
    chat.clock.advance(days=3)  # Thursday morning: past two working days
    [refused] = await chat.bot.say("/return Q1 不归我们", by=chat.li)
    # Transferred Monday before opening time: two working days end Tuesday at closing time.
    assert "已超过退回期限" in refused.text and "11月17日 17:30" in refused.text
    assert chat.app.store.question(1).assignee_name == "李娜"


async def test_a_resolved_ticket_cannot_be_transferred(chat):
    await chat.ask("电梯坏了什么时候修？")
    await chat.bot.say("/reply Q1 已修好", by=chat.zhang)
    await chat.bot.say("满意", by=chat.wang, chat=chat.group)
    [refused] = await chat.bot.say("/transfer Q1 交通运输局", by=chat.zhang)
    assert "已办结，不能转办" in refused.text
    assert chat.app.store.question(1).state == "resolved"
    assert chat.app.store.question(1).department == "住房和城乡建设局"


# ---------------------------------------------------------------- 走访, 回访, 登记, 关闭


async def test_a_visit_is_recorded_and_credited(chat):
    await chat.ask("电梯坏了什么时候修？")
    posted = await chat.bot.say("/visit Q1 上门查看，电梯主板损坏", by=chat.zhang)
    assert "已记录 Q1 的走访" in posted[0].text
    assert engagement_counts(chat.app.store, 1).get("visit") == 1
    now = chat.clock.now + timedelta(minutes=1)
    summary = chat.app.store.summary(now - timedelta(days=1), now, now)
    assert next(t for t in summary.officials if t.label == "张伟").engagements["visit"] == 1
    [visited] = [s for s in chat.app.store.history(1) if s.kind == "visited"]
    assert visited.actor == "张伟" and "电梯主板损坏" in visited.note
    assert chat.app.store.question(1).state == "open"  # a visit is no answer


async def test_an_unrated_answer_brings_a_revisit_and_its_result_is_the_rating(chat):
    from handlers.overdue import OverdueReminder

    reminder = OverdueReminder(chat.app.dispatcher)
    await chat.ask("电梯坏了什么时候修？")
    await chat.bot.say("/reply Q1 已安排维修，明天修好", by=chat.li)  # 李娜 answers
    chat.clock.advance(days=1)
    await reminder.run_once()
    assert not any("回访提醒" in p.text for p in chat.bot.outbox)  # one working day: not yet
    chat.clock.advance(days=2)
    before = len(chat.bot.outbox)
    await reminder.run_once()
    await reminder.run_once()
    asked = [p for p in chat.bot.outbox[before:] if "回访提醒 Q1" in p.text]
    assert [p.chat_id for p in asked] == ["lina"]  # whoever answered, once
    await chat.bot.say("/visit Q1 满意 电话回访，已修好", by=chat.li)
    assert ratings(chat.app.store, 1) == ["satisfied"]
    assert chat.app.store.question(1).state == "resolved"
    rated = next(s for s in chat.app.store.history(1) if s.kind == "rated")
    assert rated.actor == "visit"  # the source is marked
    [private] = await chat.bot.say("/history Q1", by=chat.li)
    assert "评价  回访  满意" in private.text


async def test_an_offline_case_enters_the_loop_with_its_own_number(chat):
    await chat.ask("电梯坏了什么时候修？")
    in_group = await chat.bot.say("/case 李阿姨来电说楼道灯坏了", by=chat.zhang, chat=chat.group)
    assert chat.app.store.question(2) is None and "私聊" in in_group[0].text
    posted = await chat.bot.say("/case 6号楼李阿姨来电，楼道灯坏了三天", by=chat.zhang)
    assert "编号 Q2" in posted[0].text and posted[0].chat_id == "zhangwei"
    case = chat.app.store.question(2)
    assert case.assignee_name == "张伟" and case.state == "open" and case.group_id is None
    assert "case" in [s.kind for s in chat.app.store.history(2)]
    await chat.bot.say("/reply Q2 已通知物业今天修", by=chat.zhang)
    assert chat.app.store.question(2).state == "answered"


async def test_close_keeps_the_reason_and_tells_the_resident(chat):
    await chat.ask("电梯坏了什么时候修？")
    bad = await chat.bot.say("/close Q1", by=chat.zhang)
    assert "格式" in bad[0].text and chat.app.store.question(1).state == "open"
    posted = await chat.bot.say("/close Q1 重复提问，已在 Q8 答复", by=chat.zhang)
    assert any(p.chat_id == "xingfuli" and "已关闭" in p.text for p in posted)
    assert chat.app.store.question(1).state == "closed"
    [closed] = [s for s in chat.app.store.history(1) if s.kind == "closed"]
    assert closed.note == "重复提问，已在 Q8 答复" and closed.actor == "张伟"
    again = await chat.bot.say("/close Q1 再关", by=chat.zhang)
    assert "已经关闭" in again[0].text


async def test_transfers_and_returns_are_counted_per_department(chat):
    await chat.ask("电梯坏了什么时候修？")
    await chat.ask("楼道漏水了", by=chat.liu)
    await chat.bot.say("/transfer Q1 交通运输局", by=chat.zhang)
    await chat.bot.say("/transfer Q2 交通运输局", by=chat.zhang)
    await chat.bot.say("/return Q1 不归交通", by=chat.li)
    now = chat.clock.now
    summary = chat.app.store.summary(now - timedelta(days=1), now + timedelta(minutes=1), now)
    transport = next(d for d in summary.departments if d.label == "交通运输局")
    assert (transport.transfers_in, transport.returns) == (2, 1)
    chat.clock.advance(minutes=1)
    [report] = await chat.bot.say("/summary today", by=chat.chen)
    assert "交通运输局：" in report.text and "转入2 退回1" in report.text


# ---------------------------------------------------------------- minyi run and doctor


async def test_minyi_run_replays_a_timestamped_transcript_and_doctor_reports_the_calendar(tmp_path):
    import subprocess
    import sys

    from tests_support import REPO

    (tmp_path / "bot.toml").write_text((REPO / "bot.toml").read_text(encoding="utf-8"), "utf-8")

    def minyi(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=300,
        )

    transcript = (
        "[2026-09-30 16:00] 王阿姨: @政务助手 3号楼电梯坏了，什么时候修？\n"
        "[2026-10-12 09:00] 王阿姨: 还没人管吗\n"
    )
    result = minyi("run", stdin=transcript)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    due = first_working_day_after(date(2026, 9, 30))
    assert f"将于 {due.month}月{due.day}日 16:00 前答复" in out
    stages = [out.index(f"【{stage} Q1】") for stage in ("办理提醒", "超时督办", "二级督办")]
    assert stages == sorted(stages)
    doctor = minyi("doctor")
    assert doctor.returncode == 0, doctor.stderr
    # The same words start-up warns with, for the same day (2027 is unknown to chinese-calendar 1.11).
    from bot.config import load_settings
    from bot.worktime import WorkClock

    settings = load_settings(tmp_path / "bot.toml", env={})
    clock = WorkClock(settings.worktime, settings.bot.zone)
    expected = clock.coverage_warning(datetime.now(SHANGHAI)) or "未来60天已覆盖"
    assert f"工作日历（calendar）：{expected}" in doctor.stdout
    # Start-up says the same, after the bot is up (today, 2027 is within 60 days until chinese-calendar
    # knows it; once it does, no warning is due).
    warning = clock.coverage_warning(datetime.now(SHANGHAI))
    assert (
        (f"minyi: warning: {warning}" in result.stderr)
        if warning
        else ("warning" not in result.stderr)
    )


async def test_escalation_goes_to_the_departments_supervisors_and_up_to_named_leaders(
    app_factory, db_url, clock
):
    from dialogue_support import ROSTER, Dialogue
    from handlers.overdue import OverdueReminder

    roster = [
        *ROSTER,
        {"name": "周敏", "role": "supervisor", "department": "交通运输局",
         "identities": ["test:zhoumin"]},
        {"name": "钱局", "role": "official", "department": "交通运输局",
         "identities": ["test:qianju"]},
    ]  # fmt: skip
    chat = Dialogue(app_factory(db_url, officials=roster, worktime={"leaders": ["钱局"]}), clock)
    await chat.ask("公交站台什么时候恢复？")  # 交通运输局, 李娜
    clock.advance(days=1)
    before = len(chat.bot.outbox)
    await OverdueReminder(chat.app.dispatcher).run_once()
    sent = chat.bot.outbox[before:]
    escalated = {p.chat_id for p in sent if "【超时督办 Q1】" in p.text}
    # 周敏 by her department, 陈静 because she oversees the group (their jurisdictions).
    assert escalated == {"lina", "zhoumin", "chenjing"}
    clock.advance(days=1)
    before = len(chat.bot.outbox)
    await OverdueReminder(chat.app.dispatcher).run_once()
    assert {p.chat_id for p in chat.bot.outbox[before:] if "【二级督办 Q1】" in p.text} == {
        "qianju"
    }


async def test_loop_commands_act_only_within_scope(chat):
    # 阳光花园's transport question: 李娜's group and department, not 张伟's.
    await chat.ask("公交站台什么时候恢复？", by=chat.liu, chat=chat.other_group)
    assert chat.app.store.question(1).assignee_name == "李娜"
    for text in (
        "/close Q1 重复",
        "/visit Q1 上门了",
        "/extend Q1 2d 忙",
        "/history Q1",
        "/return Q1 不归我",
    ):
        posted = await chat.bot.say(text, by=chat.zhang)
        assert [p.chat_id for p in posted] == ["zhangwei"] and "不能处理" in posted[0].text, text
    question = chat.app.store.question(1)
    assert question.state == "open" and question.extension_due_at is None
    assert [s.kind for s in chat.app.store.history(1)] == ["open", "acknowledged", "suggested"]


async def test_a_replayed_transcript_brings_the_revisit_reminder_at_its_time(transcript):
    await transcript.feed(
        """
[2026-11-16 09:00] 王阿姨: @政务助手 3号楼电梯坏了什么时候修？
[2026-11-16 10:00] ~张伟: /reply Q1 维修队下午到
[2026-11-20 09:00] 王阿姨: 修好了
"""
    )
    steps = {kind: at for kind, at in transcript.history(1)}
    # Two working days after Monday 10:00: Wednesday 10:00 (and one second, as the timer saw it).
    assert local(steps["revisit_reminded"]) == "11-18 10:00"
    assert "【回访提醒 Q1】" in transcript.out.getvalue()
