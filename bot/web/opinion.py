"""The console's opinion page (舆情): the period's 舆情预警 (bot/web/warnings.py), hot topics over time
(bot/web/topic_trend.py), suggestions and complaints by day with the days complaints spiked, the hot
words of the period's tickets with the tickets that raised them, and the latest suggestions and
complaints (masked)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.text.privacy import mask
from bot.web import brief, topic_trend, warnings
from bot.web.tables import Column, Table
from storage import Store
from storage.opinion import RaisedMessage
from storage.reports import ReportScope

SPIKE_FACTOR = 2.0
SPIKE_MINIMUM = 3
LISTED = 50


@dataclass(frozen=True, slots=True)
class OpinionView:
    """What the opinion page shows for a period and scope."""

    by_day: list[tuple[date, int, int]]
    spikes: list[tuple[date, int]]
    topics: list[brief.HotTopic]
    trend: topic_trend.TopicTrend
    warnings: list[warnings.WarningView]
    tables: list[Table]


def complaint_spikes(by_day: Sequence[tuple[date, int, int]]) -> list[tuple[date, int]]:
    """Days with at least ``SPIKE_MINIMUM`` complaints and ``SPIKE_FACTOR`` times the period's
    daily average."""
    if not by_day:
        return []
    average = sum(c for _, _, c in by_day) / len(by_day)
    return [(day, c) for day, _, c in by_day if c >= SPIKE_MINIMUM and c >= SPIKE_FACTOR * average]


def raised_table(name: str, title: str, items: Sequence[RaisedMessage], zone: ZoneInfo) -> Table:
    """Suggestions or complaints: when, where and what (masked); never who."""
    columns = (Column("时间", "datetime"), Column("群"), Column("内容"))
    rows = [
        (m.at.astimezone(zone).replace(tzinfo=None), m.group_title, mask(m.text)) for m in items
    ]
    return Table(name, title, columns, rows)


def topics_table(topics: Sequence[brief.HotTopic]) -> Table:
    """Hot topics with how often they came up and the tickets that raised them."""
    columns = (Column("热点"), Column("提及次数", "int"), Column("相关工单"))
    rows = [(t.word, t.count, "、".join(t.tickets)) for t in topics]
    return Table("topics", "热点词（工单）", columns, rows)


def build_opinion(
    store: Store,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    scope: ReportScope,
    window: timedelta,
) -> OpinionView:
    """Everything the opinion page shows, within ``scope``; ``window``: the warnings' window."""
    by_day = store.raised_by_day(since, until, zone, scope)
    hot = brief.hot_topics(store, since, until, scope)
    _, complaints = store.raised(since, until, "complaint", scope, LISTED)
    _, suggestions = store.raised(since, until, "suggestion", scope, LISTED)
    trend = topic_trend.topic_trend(
        store.topics_by_day(since, until, zone, scope),
        since.astimezone(zone).date(),
        (until - timedelta(microseconds=1)).astimezone(zone).date(),
    )
    raised = warnings.build_warnings(store, since, until, scope, window)
    days = Table(
        "raised_by_day",
        "每日建议与投诉",
        (Column("日期", "date"), Column("建议", "int"), Column("投诉", "int")),
        list(by_day),
    )
    return OpinionView(
        by_day=by_day,
        spikes=complaint_spikes(by_day),
        topics=hot,
        trend=trend,
        warnings=raised,
        tables=[
            warnings.warnings_table(raised, zone),
            topic_trend.trend_table(trend),
            topics_table(hot),
            days,
            raised_table("complaints", "最新投诉", complaints, zone),
            raised_table("suggestions", "建议登记", suggestions, zone),
        ],
    )
