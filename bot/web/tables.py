"""Every table the console shows, built once with typed cells so the page, the XLSX and the CSV show
the same rows: numbers stay numbers, rates are fractions, times are local datetimes, and residents'
text is masked (``bot.text.privacy.mask``) before it reaches any of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.text.privacy import mask
from handlers.common import RATING_LABELS, STATE_LABELS
from storage import QuestionInfo, Summary, Tally
from storage.reports import DayFigures

AGE_BINS = (
    (timedelta(hours=4), "4小时内"),
    (timedelta(hours=24), "4–24小时"),
    (timedelta(days=3), "1–3天"),
    (timedelta(days=7), "3–7天"),
)
"""The waiting tickets' age bins: each holds the tickets younger than its limit (and not younger
than the one before)."""
AGE_LIMITS = tuple(limit for limit, _ in AGE_BINS)
OLDEST_BIN = "7天以上"


@dataclass(frozen=True, slots=True)
class Column:
    """A column's Chinese title and what its cells hold: ``text``, ``int``, ``percent`` (a fraction),
    ``minutes``, ``datetime``, ``date`` or ``ticket`` (a ticket number, linked on pages)."""

    title: str
    kind: str = "text"


@dataclass(frozen=True, slots=True)
class Table:
    """A titled table; ``name`` is how exports and links call it."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


_TALLY_COLUMNS: tuple[tuple[Column, Callable[[Tally], Any]], ...] = (
    (Column("名称"), lambda t: t.label),
    (Column("部门"), lambda t: t.department),
    (Column("问题", "int"), lambda t: t.questions),
    (Column("已答复", "int"), lambda t: t.answered),
    (Column("按时答复", "int"), lambda t: t.answered_on_time),
    (Column("超时未答", "int"), lambda t: t.overdue),
    (Column("响应率", "percent"), lambda t: t.response_rate),
    (Column("解决率", "percent"), lambda t: t.resolution_rate),
    (Column("满意率", "percent"), lambda t: t.satisfaction_rate),
    (Column("按时率", "percent"), lambda t: t.on_time_rate),
    (Column("首次响应中位数（分钟）", "minutes"), lambda t: _minutes(t.median_response_seconds)),
    (Column("首次响应P90（分钟）", "minutes"), lambda t: _minutes(t.p90_response_seconds)),
    (Column("评价数", "int"), lambda t: t.rated),
    (Column("潜水", "int"), lambda t: t.engagements.get("lurk", 0)),
    (Column("聊天", "int"), lambda t: t.engagements.get("chat", 0)),
    (Column("发声", "int"), lambda t: t.engagements.get("speak", 0)),
    (Column("答复", "int"), lambda t: t.engagements.get("answer", 0)),
    (Column("消息", "int"), lambda t: t.messages),
    (Column("建议", "int"), lambda t: t.suggestions),
    (Column("投诉", "int"), lambda t: t.complaints),
)


def tally_table(name: str, title: str, tallies: Sequence[Tally]) -> Table:
    """Officials, groups or departments side by side with the three rates and the action counts."""
    return Table(
        name,
        title,
        tuple(c for c, _ in _TALLY_COLUMNS),
        [tuple(value(t) for _, value in _TALLY_COLUMNS) for t in tallies],
    )


def ranked(officials: Sequence[Tally]) -> list[Tally]:
    """Officials by answers given, then response rate, then name: who engages most first."""
    return sorted(
        officials,
        key=lambda t: (-t.engagements.get("answer", 0), -(t.response_rate or 0), t.label),
    )


def summary_tables(summary: Summary, zone: ZoneInfo, now: datetime) -> list[Table]:
    """The summary's tables: officials ranked, groups, departments, the total and overdue tickets."""
    return [
        tally_table("officials", "人员排行", ranked(summary.officials)),
        tally_table("groups", "按群", summary.groups),
        tally_table("departments", "按部门", summary.departments),
        tally_table("total", "合计", [summary.total]),
        tickets_table("overdue", "超时未答复", summary.overdue, zone, now),
    ]


_TICKET_COLUMNS = (
    Column("编号", "ticket"),
    Column("状态"),
    Column("群"),
    Column("部门"),
    Column("承办人"),
    Column("提问人"),
    Column("提问时间", "datetime"),
    Column("承诺答复时间", "datetime"),
    Column("首次响应时间", "datetime"),
    Column("超时"),
    Column("内容"),
)


def _local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if moment is None else moment.astimezone(zone).replace(tzinfo=None)


def tickets_table(
    name: str, title: str, tickets: Sequence[QuestionInfo], zone: ZoneInfo, now: datetime
) -> Table:
    """Tickets with their state, place, people, times and (masked) text."""
    return Table(
        name,
        title,
        _TICKET_COLUMNS,
        [
            (
                q.number,
                STATE_LABELS.get(q.state, q.state),
                q.group_title,
                q.department,
                q.assignee_name,
                mask(q.asker_name),
                _local(q.created_at, zone),
                _local(q.due_at, zone),
                _local(q.first_response_at, zone),
                "是" if q.is_overdue(now) else "否",
                mask(q.text),
            )
            for q in tickets
        ],
    )


def trend_table(trend: Sequence[DayFigures]) -> Table:
    """Questions asked per local day, with how many of them are answered and resolved."""
    columns = (
        Column("日期", "date"),
        Column("提问", "int"),
        Column("已答复", "int"),
        Column("已办结", "int"),
    )
    return Table(
        "trend", "每日趋势", columns, [(d.day, d.asked, d.answered, d.resolved) for d in trend]
    )


def age_table(waiting_by_age: Sequence[int]) -> Table:
    """Tickets still waiting for an answer, by how long they have waited: ``waiting_by_age`` counts
    them by ``AGE_LIMITS`` (``ReportStore.overview``)."""
    labels = [label for _, label in AGE_BINS] + [OLDEST_BIN]
    columns = (Column("等待时长"), Column("待答复工单", "int"))
    rows = list(zip(labels, waiting_by_age, strict=True))
    return Table("waiting", "待答复工单（按等待时长）", columns, rows)


def rating_label(score: str) -> str:
    """满意 / 基本满意 / 不满意 for a stored score."""
    return RATING_LABELS.get(score, score)


def cell_text(value: Any, kind: str) -> str:
    """How a cell reads on a page and in CSV: ``—`` for nothing, ``87.5%``, ``12.5``, ``2026-11-16 08:00``."""
    if value is None:
        return "—"
    if kind == "percent":
        return f"{value * 100:.1f}%"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    return str(value)
