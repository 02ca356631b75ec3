"""The periods the console and ``minyi report`` offer: today, this week, last week, this month and a
date range, as [since, until) in UTC with a label in Chinese. Weeks start on Monday, days at local
midnight in the configured zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PERIODS = {
    "today": "今天",
    "this_week": "本周",
    "last_week": "上周",
    "this_month": "本月",
    "range": "日期范围",
}
DEFAULT_PERIOD = "this_week"


class PeriodChoiceError(ValueError):
    """A period or date that cannot be read; the message is for people."""


@dataclass(frozen=True, slots=True)
class Period:
    """A chosen period: its bounds in UTC-aware datetimes, the key chosen and a label."""

    key: str
    since: datetime
    until: datetime
    label: str
    first_day: date
    last_day: date


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def parse_day(text: str) -> date:
    """``2026-11-16`` (also ``2026/11/16``) as a date."""
    try:
        return date.fromisoformat(text.strip().replace("/", "-"))
    except ValueError:
        raise PeriodChoiceError(f"无法识别的日期「{text}」，请写成 2026-11-16") from None


def choose_period(
    key: str, now: datetime, zone: ZoneInfo, first: str = "", last: str = ""
) -> Period:
    """The period ``key`` names as seen at ``now``; ``range`` takes ``first`` and ``last`` days
    (both included; either may be left empty for an open end: from the first day to today)."""
    key = key or DEFAULT_PERIOD
    today = now.astimezone(zone).date()
    if key == "today":
        start, end = today, today
    elif key == "this_week":
        start, end = today - timedelta(days=today.weekday()), today
    elif key == "last_week":
        start = today - timedelta(days=today.weekday() + 7)
        end = start + timedelta(days=6)
    elif key == "this_month":
        start, end = today.replace(day=1), today
    elif key == "range":
        start = parse_day(first) if first.strip() else today - timedelta(days=6)
        end = parse_day(last) if last.strip() else today
        if end < start:
            raise PeriodChoiceError("结束日期早于开始日期")
    else:
        raise PeriodChoiceError(f"无法识别的时间范围「{key}」，可用：{'、'.join(PERIODS.values())}")
    since = _midnight(start, zone)
    until = _midnight(end + timedelta(days=1), zone)
    label = PERIODS[key] if key != "range" else f"{start:%Y-%m-%d} 至 {end:%Y-%m-%d}"
    return Period(key, since, until, label, start, end)
