"""Working-day deadlines: a question's promised time counts working hours on working days, as the
Chinese calendar (statutory holidays, 调休) and bot.toml say; expected days come from the calendar."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from dialogue_support import Dialogue

pytestmark = pytest.mark.asyncio
SHANGHAI = ZoneInfo("Asia/Shanghai")


def working_days_after(day: date, count: int) -> date:
    """The ``count``-th working day after ``day``, straight from chinese-calendar."""
    while count:
        day += timedelta(days=1)
        count -= chinese_calendar.is_workday(day)
    return day


def shown(day: date, clock_time: str) -> str:
    return f"{day.month}月{day.day}日 {clock_time}"


async def test_a_question_at_friday_closing_time_is_due_on_the_next_working_day(chat):
    chat.clock.now = datetime(2026, 11, 20, 17, 30, tzinfo=SHANGHAI)  # a Friday, at closing time
    [ack, *_] = await chat.ask("电梯什么时候能修好？")
    due = working_days_after(date(2026, 11, 20), 1)
    assert due.weekday() == 0  # not the Saturday
    assert "咨询类1个工作日" in ack.text and shown(due, "17:30") in ack.text
    assert chat.app.store.question(1).due_at == datetime.combine(
        due, datetime.min.time().replace(hour=17, minute=30), SHANGHAI
    )


async def test_a_question_on_30_september_is_due_after_national_day(chat):
    chat.clock.now = datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI)
    [ack, *_] = await chat.ask("电梯什么时候能修好？")
    # 1.5 working hours left on 30 September; the other 5.5 on the first working day after the holiday
    # (09:00-12:00, then 13:30-16:00).
    due = working_days_after(date(2026, 9, 30), 1)
    assert due > date(2026, 10, 1) and not chinese_calendar.is_workday(date(2026, 10, 1))
    assert shown(due, "16:00") in ack.text


async def test_a_complaint_gets_five_working_days_and_an_urgent_one_two_hours(chat):
    chat.clock.now = datetime(2026, 9, 28, 10, 0, tzinfo=SHANGHAI)  # a working Monday
    [ack, *_] = await chat.ask("投诉：楼下餐馆油烟太大，多次反映没人管，强烈不满")
    assert "投诉类5个工作日" in ack.text
    # Across National Day to the Saturday worked in its place (调休).
    due = working_days_after(date(2026, 9, 28), 5)
    assert due.weekday() == 5 and shown(due, "10:00") in ack.text
    # Urgent: two clock hours, through the lunch break.
    chat.clock.now = datetime(2026, 9, 28, 11, 0, tzinfo=SHANGHAI)
    [urgent, *_] = await chat.ask("紧急！楼道里电线冒火花", by=chat.liu)
    assert "紧急2小时" in urgent.text and "9月28日 13:00" in urgent.text


async def test_limits_by_department_and_calendar_entries_come_from_bot_toml(
    app_factory, db_url, clock
):
    worktime = {
        "limits": {"咨询": "1d"},
        "departments": {"住房和城乡建设局": {"咨询": "2d"}},
        # chinese-calendar 1.11 knows nothing of 2027: New Year's Day off, Saturday 2nd worked (调休).
        "calendar": {2027: {"holidays": ["2027-01-01"], "workdays": ["2027-01-02"]}},
    }
    chat = Dialogue(app_factory(db_url, worktime=worktime), clock)
    clock.now = datetime(2026, 12, 31, 17, 30, tzinfo=SHANGHAI)  # Thursday, closing time
    [ack, *_] = await chat.ask("电梯什么时候能修好？")  # 住房和城乡建设局: two working days
    # Friday 1st off, Saturday 2nd worked, Sunday 3rd off, Monday 4th the second working day.
    assert "咨询类2个工作日" in ack.text and shown(date(2027, 1, 4), "17:30") in ack.text
    assert chat.app.services.worktime.coverage_warning(clock.now) is None


async def test_start_up_warns_when_the_next_60_days_reach_an_unknown_year(app):
    clock = app.services.worktime
    assert clock.coverage_warning(datetime(2026, 6, 1, tzinfo=SHANGHAI)) is None
    warning = clock.coverage_warning(datetime(2026, 11, 30, tzinfo=SHANGHAI))
    assert warning is not None and "2027" in warning and "Monday to Friday" in warning
    # Without entries 2027 counts Monday to Friday: Friday 8 January is a working day.
    assert clock.is_workday(date(2027, 1, 8)) and not clock.is_workday(date(2027, 1, 9))


async def test_help_names_the_time_limits_of_bot_toml(app_factory, db_url, clock):
    chat = Dialogue(app_factory(db_url, worktime={"limits": {"咨询": "2d", "投诉": "4h"}}), clock)
    [help_text] = await chat.bot.say("/help", by=chat.wang, chat=chat.group)
    assert "咨询类2个工作日" in help_text.text and "投诉类4个工作小时" in help_text.text


async def test_minyi_calendar_lists_the_days_that_differ_and_warns(tmp_path):
    import subprocess
    import sys

    def calendar(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", "calendar", *args],
            capture_output=True, text=True, cwd=tmp_path, timeout=300,
        )  # fmt: skip

    shown = calendar("--since", "2026-09-20", "--days", "30")
    assert shown.returncode == 0, shown.stderr
    listed = {line.split()[0] for line in shown.stdout.splitlines() if line.startswith("  ")}
    expected = set()
    for n in range(30):
        day = date(2026, 9, 20) + timedelta(days=n)
        if chinese_calendar.is_workday(day) != (day.weekday() < 5):
            expected.add(day.isoformat())
    assert listed == expected and "2026-10-10" in listed  # National Day's 调休 Saturday
    assert "未来60天已覆盖" in shown.stdout
    ahead = calendar("--since", "2026-12-01")
    assert "2027 not known" in ahead.stdout and "Monday to Friday" in ahead.stdout
    wrong = calendar("--since", "明天")
    assert wrong.returncode == 2 and "not a date" in wrong.stderr
