"""Hot topics over time on the opinion page: the period's busiest topics (the 舆情预警 topics,
``Message.topic_key``) and how many residents' messages each had per day — per week when the period
is longer than ``WEEKLY_AFTER_DAYS`` — as a table (downloadable) and a server-drawn chart.

A topic is named as people call it (``handlers.opinion.topic_label``): one compound's 3号楼电梯 and
another's are counted under one name here, as a leader reading the trend would speak of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup

from bot.web import charts
from bot.web.tables import Column, Table
from handlers.opinion import topic_label

TOP = 6
WEEKLY_AFTER_DAYS = 62
COLOURS = ("#c0392b", "#2471a3", "#229954", "#b9770e", "#7d3c98", "#17a589")


@dataclass(frozen=True, slots=True)
class TopicTrend:
    """The top topics' counts per bucket (a day, or a week starting on Monday)."""

    buckets: list[date]
    weekly: bool
    series: list[tuple[str, list[int]]]
    """(topic, one count per bucket), the busiest topic first."""


def topic_trend(by_key: Mapping[str, Mapping[date, int]], first: date, last: date) -> TopicTrend:
    """The ``TOP`` busiest topics of ``by_key`` (counts per topic key and day) over [first, last]."""
    weekly = (last - first).days + 1 > WEEKLY_AFTER_DAYS

    def bucket(day: date) -> date:
        return day - timedelta(days=day.weekday()) if weekly else day

    buckets = sorted({bucket(first + timedelta(days=i)) for i in range((last - first).days + 1)})
    counts: dict[str, dict[date, int]] = {}
    for key, days in by_key.items():
        topic = counts.setdefault(topic_label(key), {})
        for day, n in days.items():
            topic[bucket(day)] = topic.get(bucket(day), 0) + n
    busiest = sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:TOP]
    series = [(label, [days.get(b, 0) for b in buckets]) for label, days in busiest]
    return TopicTrend(buckets, weekly, series)


def trend_table(trend: TopicTrend) -> Table:
    """One row per day (or week), one column per topic."""
    columns = (
        Column("周（起始日）" if trend.weekly else "日期", "date"),
        *(Column(label, "int") for label, _ in trend.series),
    )
    rows = [
        (day, *(values[i] for _, values in trend.series)) for i, day in enumerate(trend.buckets)
    ]
    return Table("topic_trend", "热点话题走势", columns, rows)


def trend_chart(trend: TopicTrend) -> Markup:
    """The top topics as lines over the period."""
    labels = [f"{day:%m-%d}" for day in trend.buckets]
    series = [
        (label, values, COLOURS[i % len(COLOURS)]) for i, (label, values) in enumerate(trend.series)
    ]
    return charts.line_chart(
        labels, series, "热点话题走势（每周）" if trend.weekly else "热点话题走势（每日）"
    )
