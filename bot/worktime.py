"""Working time: which days are working days, which hours are working hours, and when a ticket's time
limit ends — the one clock every deadline and promised time is counted on.

Working days come from, in order: the ``[worktime.calendar.<year>]`` entries of bot.toml (holidays and
make-up working days, 调休), then the ``chinese-calendar`` library for the years it knows (statutory
holidays and 调休 as published by the State Council), and for any other year Monday to Friday — which is
wrong around Chinese holidays, so ``coverage_warning`` says so at start-up and in ``minyi doctor``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

import chinese_calendar

from bot.config import WorktimeSection

INTENT_KINDS = {"question": "咨询", "complaint": "投诉", "suggestion": "建议", "chatter": "咨询"}
"""The intent classifier's labels → the kinds time limits are set for (``[worktime] limits``)."""
HELP_WORDS = ("求助", "帮帮", "帮忙", "幫忙", "幫幫")
"""Words that make a question a 求助 (a request for help) rather than a 咨询."""
COVERAGE_DAYS = 60


@dataclass(frozen=True, slots=True)
class Span:
    """A length of working time: whole or part working days, or working hours."""

    amount: float
    unit: str
    """``d`` (working days) or ``h`` (working hours)."""

    @staticmethod
    def parse(text: str) -> Span:
        """``"1d"`` · ``"0.5d"`` · ``"4h"`` (validated by ``bot.config``)."""
        return Span(float(text[:-1]), text[-1])

    def label(self) -> str:
        """``1个工作日`` · ``4个工作小时``."""
        amount = f"{self.amount:g}"
        return f"{amount}个工作日" if self.unit == "d" else f"{amount}个工作小时"


@dataclass(frozen=True, slots=True)
class Limit:
    """A ticket's time limit: its kind, how long, and whether it counts clock time (urgent)."""

    kind: str
    span: Span
    urgent: bool = False

    def label(self) -> str:
        """``咨询类1个工作日`` or ``紧急2小时``."""
        if self.urgent:
            return f"紧急{self.span.amount:g}小时"
        return f"{self.kind}类{self.span.label()}"


class WorkClock:
    """Counts working time in the configured zone (see the module docstring for where days come from)."""

    def __init__(self, config: WorktimeSection, zone: tzinfo) -> None:
        self.config = config
        self.zone = zone
        self.periods: list[tuple[time, time]] = []
        for period in config.hours:
            start, end = period.split("-")
            self.periods.append((time.fromisoformat(start), time.fromisoformat(end)))
        self.periods.sort()
        self.day_seconds = sum(
            (datetime.combine(date.min, e) - datetime.combine(date.min, s)).total_seconds()
            for s, e in self.periods
        )
        self._holidays = {d for y in config.calendar.values() for d in y.holidays}
        self._workdays = {d for y in config.calendar.values() for d in y.workdays}
        self._known_days: dict[date, bool] = {}
        """``is_workday`` of the days asked already: the library checks every date against the range
        of its whole table (about 0.1 ms), and a ticket's deadline asks for the same days many times.
        One entry per calendar day ever asked about: a few hundred a year."""

    # ------------------------------------------------------------------ days

    def covers(self, day: date) -> bool:
        """True when ``day``'s year is known: from bot.toml or from the calendar library."""
        if day.year in self.config.calendar:
            return True
        try:
            chinese_calendar.is_workday(day)
        except NotImplementedError:
            return False
        return True

    def is_workday(self, day: date) -> bool:
        """True on a working day (bot.toml first, then the library, else Monday to Friday)."""
        known = self._known_days.get(day)
        if known is None:
            known = self._known_days[day] = self._is_workday(day)
        return known

    def _is_workday(self, day: date) -> bool:
        if day in self._holidays:
            return False
        if day in self._workdays:
            return True
        if day.year in self.config.calendar:
            return day.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            return day.weekday() < 5

    def uncovered_years(self, start: date, days: int = COVERAGE_DAYS) -> list[int]:
        """Years between ``start`` and ``days`` later that neither bot.toml nor the library knows."""
        years = sorted({(start + timedelta(days=n)).year for n in range(days + 1)})
        return [y for y in years if not self.covers(date(y, 1, 1))]

    def coverage_warning(self, now: datetime) -> str | None:
        """A warning when the next 60 days reach a year the calendar does not know; else None."""
        missing = self.uncovered_years(now.astimezone(self.zone).date())
        if not missing:
            return None
        years = ", ".join(str(y) for y in missing)
        return (
            f"working-day calendar: {years} not known (chinese-calendar "
            f"{chinese_calendar.__version__} has no entries, nor [worktime.calendar.{missing[0]}] "
            "in bot.toml); deadlines there count Monday to Friday, without holidays or 调休. "
            f"Add [worktime.calendar.{missing[0]}] holidays = [...] workdays = [...] to bot.toml."
        )

    def describe(self, start: date, days: int = COVERAGE_DAYS) -> str:
        """``minyi calendar``: where working days come from, and the days of the next ``days`` that
        differ from Monday to Friday (holidays on weekdays, 调休 weekends), with the coverage warning."""
        known = sorted({d.year for d in chinese_calendar.holidays})
        lines = [
            f"工作时间：{'、'.join(self.config.hours)}（{self.zone}）",
            f"节假日与调休：chinese-calendar {chinese_calendar.__version__}（{known[0]}–{known[-1]}年）"
            + (
                f"；bot.toml：{'、'.join(str(y) for y in sorted(self.config.calendar))}年"
                if self.config.calendar
                else ""
            ),
            f"未来{days}天与周一至周五不同的日子：",
        ]
        names = "一二三四五六日"
        for n in range(days):
            day = start + timedelta(days=n)
            working = self.is_workday(day)
            if working != (day.weekday() < 5):
                lines.append(
                    f"  {day:%Y-%m-%d} 星期{names[day.weekday()]} {'调休上班' if working else '休息'}"
                )
        midnight = datetime.combine(start, time(), self.zone)
        lines.append(self.coverage_warning(midnight) or f"未来{COVERAGE_DAYS}天已覆盖。")
        return "\n".join(lines)

    # ------------------------------------------------------------------ counting

    def _windows(self, start: datetime) -> Iterable[tuple[datetime, datetime]]:
        """Working periods from ``start`` on, as (begin, end) in the zone, the first clipped."""
        local = start.astimezone(self.zone)
        day = local.date()
        for _ in range(3660):  # ten years of days: a limit never runs that far
            if self.is_workday(day):
                for s, e in self.periods:
                    begin = max(datetime.combine(day, s, self.zone), local)
                    end = datetime.combine(day, e, self.zone)
                    if begin < end:
                        yield begin, end
            day += timedelta(days=1)

    def add(self, start: datetime, span: Span) -> datetime:
        """The moment ``span`` of working time after ``start`` (in UTC)."""
        seconds = span.amount * (self.day_seconds if span.unit == "d" else 3600)
        remaining = timedelta(seconds=seconds)
        for begin, end in self._windows(start):
            if remaining <= end - begin:
                return (begin + remaining).astimezone(start.tzinfo)
            remaining -= end - begin
        raise ValueError("no working time in the next ten years: check [worktime] hours")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """The working time between two moments (zero when ``end`` is not after ``start``)."""
        total = timedelta()
        for begin, stop in self._windows(start):
            if begin >= end:
                break
            total += min(stop, end) - begin
        return total

    # ------------------------------------------------------------------ limits

    def kind_of(self, intent: str, text: str) -> str:
        """The kind of question a time limit is set for: 咨询, 求助, 投诉 or 建议."""
        kind = INTENT_KINDS.get(intent, "咨询")
        if kind == "咨询" and any(word in text for word in HELP_WORDS):
            return "求助"
        return kind

    def limit(self, intent: str, department: str, text: str) -> Limit:
        """The time limit of a question: urgent (clock hours), else by department and kind."""
        if any(word in text for word in self.config.urgent_words):
            return Limit("紧急", Span(self.config.urgent_hours, "h"), urgent=True)
        kind = self.kind_of(intent, text)
        limits = {**self.config.limits, **self.config.departments.get(department, {})}
        return Limit(kind, Span.parse(limits.get(kind) or limits.get("咨询") or "1d"))

    def deadline(self, start: datetime, limit: Limit) -> datetime:
        """When a question with ``limit`` received at ``start`` is due."""
        if limit.urgent:
            return start + timedelta(hours=limit.span.amount)
        return self.add(start, limit.span)

    def span_after(self, start: datetime, setting: str) -> datetime:
        """``start`` plus a working-time setting such as ``"2d"``."""
        return self.add(start, Span.parse(setting))

    def share_of(self, start: datetime, due: datetime, share: float) -> datetime:
        """The moment ``share`` of the time from ``start`` to ``due`` has passed (clock time: a reminder
        at 80% of a Friday-to-Monday limit falls on Monday morning, not on Saturday)."""
        working = self.between(start, due)
        if working <= timedelta():
            return start + (due - start) * share
        return self.add(start, Span(working.total_seconds() * share / 3600, "h"))
