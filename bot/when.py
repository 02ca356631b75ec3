"""Chinese date and time expressions, read in the bot's zone from a given clock: when a scheduled
announcement is to go out (``12月5日 09:00``, ``明天 9点``, ``下周一 下午3点半``, ``2026-12-05 09:00``),
when a recurring job falls due (``每天 18:00``, ``周一 09:00``) and the ISO weeks the weekly brief covers.

Pure functions of the standard library: ``bot.config`` checks ``[schedule]`` with them, the handlers
schedule with them and the web console's brief counts its weeks with them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6}
_DIGITS |= {"七": 7, "八": 8, "九": 9, "十": 10}
WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
WEEKDAY_NAMES = "一二三四五六日"
RELATIVE_DAYS = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "後天": 2}
_WEEKDAY = r"(?:周|週|星期|礼拜|禮拜)"
_DATE = (
    r"(?P<date>今天|今日|明天|明日|后天|後天"
    rf"|(?P<next>下|下个|下個|本|这|這)?{_WEEKDAY}(?P<weekday>[一二三四五六日天])"
    r"|(?:(?P<year>\d{4})\s*[-/年.]\s*)?(?P<month>\d{1,2})\s*[-/月.]\s*(?P<day>\d{1,2})\s*[日号號]?)"
)
_TIME = (
    r"(?P<part>上午|早上|早晨|清晨|中午|下午|傍晚|晚上|夜里|夜裡|凌晨)?\s*"
    r"(?:(?P<hour>\d{1,2})\s*[:：]\s*(?P<minute>\d{2})"
    r"|(?P<hour_word>\d{1,2}|[零一二两兩三四五六七八九十]{1,3})\s*[点點时時]"
    r"(?:\s*(?P<half>半)|\s*(?P<minute_word>\d{1,2})\s*分?)?)"
)
_AT = re.compile(rf"^\s*(?:{_DATE}\s*)?{_TIME}(?=\s|$)")
_ISO_DAY_ONLY = re.compile(r"^\s*\d{4}-\d{1,2}-\d{1,2}(?=\s|$)")
"""``2026-12-05`` with no clock time after it: meant as a schedule, so asked to name the hour (while
「12月5日 全天停水」 is an announcement about that day, posted now)."""
_AFTERNOON = ("下午", "傍晚", "晚上", "夜里", "夜裡")


class WhenError(ValueError):
    """A time people typed that cannot be used; the message says why, in Chinese."""


@dataclass(frozen=True, slots=True)
class At:
    """A time read from the start of a text, and the words after it."""

    moment: datetime
    """Timezone-aware, in the zone it was read in."""
    rest: str


def _number(word: str) -> int:
    """``9`` or ``九`` / ``十一`` → the number."""
    if word.isdigit():
        return int(word)
    if word.startswith("十"):
        return 10 + (_DIGITS[word[1]] if len(word) > 1 else 0)
    if len(word) == 3 and word[1] == "十":
        return _DIGITS[word[0]] * 10 + _DIGITS[word[2]]
    if len(word) == 2 and word[1] == "十":
        return _DIGITS[word[0]] * 10
    return _DIGITS[word]


def _hour(part: str, hour: int) -> int:
    """A 12-hour reading made 24-hour by the part of the day (下午3点 → 15, 中午12点 → 12)."""
    if part in _AFTERNOON and hour < 12:
        return hour + 12
    if part == "中午" and hour < 11:
        return hour + 12
    if part == "凌晨" and hour == 12:
        return 0
    return hour


def _day(match: re.Match[str], today: date) -> date:
    """The day a date expression names, counted from ``today``."""
    word = match.group("date")
    if word is None:
        return today
    if word in RELATIVE_DAYS:
        return today + timedelta(days=RELATIVE_DAYS[word])
    if match.group("weekday"):
        target = WEEKDAYS[match.group("weekday")]
        if match.group("next") in ("下", "下个", "下個"):
            monday = today - timedelta(days=today.weekday()) + timedelta(days=7)
            return monday + timedelta(days=target)
        if match.group("next"):  # 本周三 / 这周三: this week's
            return today - timedelta(days=today.weekday()) + timedelta(days=target)
        return today + timedelta(days=(target - today.weekday()) % 7)  # 周三: the next one
    month, day = int(match.group("month")), int(match.group("day"))
    year = int(match.group("year")) if match.group("year") else today.year
    try:
        found = date(year, month, day)
    except ValueError:
        raise WhenError(f"没有这一天：{word.strip()}。") from None
    if not match.group("year") and found < today:
        found = date(year + 1, month, day)  # 「1月5日」 written in December: next January
    return found


def read_at(text: str, now: datetime, zone: ZoneInfo) -> At | None:
    """The time at the start of ``text`` (an optional day, then a clock time) and the words after it;
    None when the text does not begin with a clock time. A time that is not a real one, or has
    passed, raises ``WhenError``."""
    match = _AT.match(text)
    if match is None:
        if _ISO_DAY_ONLY.match(text):
            raise WhenError(f"请在日期后写明几点，例如「{text.split()[0]} 09:00」。")
        return None
    local_now = now.astimezone(zone)
    day = _day(match, local_now.date())
    part = match.group("part") or ""
    if match.group("hour") is not None:
        hour, minute = int(match.group("hour")), int(match.group("minute"))
    else:
        hour = _number(match.group("hour_word"))
        minute = 30 if match.group("half") else int(match.group("minute_word") or 0)
    hour = _hour(part, hour)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise WhenError(f"没有这个时间：{match.group(0).strip()}。")
    moment = datetime.combine(day, time(hour, minute), tzinfo=zone)
    if moment <= local_now:
        raise WhenError(f"{describe(moment, zone)} 已经过去了，请写一个将来的时间。")
    return At(moment, text[match.end() :].strip())


def describe(moment: datetime, zone: ZoneInfo) -> str:
    """``2026年12月5日（周六）09:00``."""
    local = moment.astimezone(zone)
    weekday = WEEKDAY_NAMES[local.weekday()]
    return f"{local.year}年{local.month}月{local.day}日（周{weekday}）{local:%H:%M}"


# ---------------------------------------------------------------- recurring


_EVERY = re.compile(
    rf"^\s*(?:(?:每天|每日|天天)|(?:每)?{_WEEKDAY}(?P<weekday>[一二三四五六日天]))?\s*"
    r"(?P<hour>\d{1,2})\s*[:：]\s*(?P<minute>\d{2})\s*$"
)


@dataclass(frozen=True, slots=True)
class Every:
    """A recurring time of day, every day or on one weekday (0 = Monday)."""

    at: time
    weekday: int | None = None

    def next_after(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """The first time after ``moment`` this falls due (in UTC-aware form, as ``moment``)."""
        local = moment.astimezone(zone)
        day = local.date()
        while True:
            candidate = datetime.combine(day, self.at, tzinfo=zone)
            on_day = self.weekday is None or day.weekday() == self.weekday
            if on_day and candidate > local:
                return candidate.astimezone(moment.tzinfo)
            day += timedelta(days=1)

    def label(self) -> str:
        """``每天 18:00`` / ``每周一 09:00``."""
        days = "每天" if self.weekday is None else f"每周{WEEKDAY_NAMES[self.weekday]}"
        return f"{days} {self.at:%H:%M}"


def read_every(text: str) -> Every | None:
    """``每天 18:00`` (or just ``18:00``), ``周一 09:00`` / ``每周一 9:00``; empty → None (off). Anything
    else raises ``WhenError``."""
    if not text.strip():
        return None
    match = _EVERY.match(text)
    hour = int(match.group("hour")) if match else -1
    minute = int(match.group("minute")) if match else -1
    if match is None or not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise WhenError(f"无法识别的时间「{text}」，请写成「每天 18:00」或「周一 09:00」")
    weekday = match.group("weekday")
    return Every(time(hour, minute), WEEKDAYS[weekday] if weekday else None)


# ---------------------------------------------------------------- weeks


_WEEK = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.I)


@dataclass(frozen=True, slots=True)
class Week:
    """An ISO week (Monday to Sunday, local time) and its bounds in UTC-aware datetimes."""

    year: int
    number: int
    first_day: date
    since: datetime
    until: datetime

    @property
    def label(self) -> str:
        """``2026年第48周（11月23日—11月29日）``."""
        last = self.first_day + timedelta(days=6)
        return (
            f"{self.year}年第{self.number}周（{self.first_day.month}月{self.first_day.day}日—"
            f"{last.month}月{last.day}日）"
        )

    @property
    def key(self) -> str:
        """``2026-W48``."""
        return f"{self.year}-W{self.number:02d}"


class WeekError(ValueError):
    """A week that cannot be read; the message is for people."""


def parse_week(text: str, now: datetime, zone: ZoneInfo) -> Week:
    """``2026-W48`` (or ``2026W48``); empty means the last complete week before ``now``."""
    if text.strip():
        match = _WEEK.match(text)
        if not match:
            raise WeekError(f"无法识别的周「{text}」，请写成 2026-W48")
        try:
            first = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
        except ValueError:
            raise WeekError(f"没有这一周：{text}") from None
    else:
        today = now.astimezone(zone).date()
        first = today - timedelta(days=today.weekday() + 7)
    year, number, _ = first.isocalendar()
    since = datetime.combine(first, time(0), tzinfo=zone)
    return Week(year, number, first, since, since + timedelta(days=7))
