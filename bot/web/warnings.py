"""舆情预警 in the console: the period's warnings (topic, count, groups, first and latest message,
trend, when raised) and a warning's page with the messages of its burst.

What a viewer reads follows their scope: a warning is listed when its burst had a message in a group
they may see, and the messages quoted (first, latest, the detail's list) are those of such groups;
the count and the groups' counts are the warning's own, as the supervisors' chat message gives them.
Residents' text and names are masked (``bot.text.privacy.mask``) and escaped by the templates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.text.privacy import mask
from bot.web.tables import Column, Table
from handlers.common import clip
from handlers.opinion import trend
from storage import Store, TopicMessageInfo, WarningBurst, WarningInfo
from storage.reports import ReportScope


@dataclass(frozen=True, slots=True)
class WarningView:
    """A warning, its burst as the viewer may read it, and its trend."""

    info: WarningInfo
    burst: WarningBurst
    trend: str
    """上升 / 持平 / 回落 over the window ending at the latest message, against the window before."""

    @property
    def groups(self) -> str:
        """``幸福里小区(5)、阳光花园(4)``."""
        return "、".join(f"{title}({n})" for title, n in self.burst.groups.items())


def view_warning(
    store: Store, info: WarningInfo, scope: ReportScope, window: timedelta
) -> WarningView:
    """``info`` with its burst's messages in ``scope`` and its trend (``window`` long)."""
    burst = store.warning_messages(info, scope)
    end = burst.latest_at or info.raised_at
    counts = store.topic_counts(
        info.topic_key, window_start=end - window, lookback_start=end - window, until=end
    )
    return WarningView(info, burst, trend(counts))


def quote(message: TopicMessageInfo | None, zone: ZoneInfo) -> str:
    """``11-16 08:30［幸福里小区］王阿姨：又停水了…`` (masked), or empty."""
    if message is None:
        return ""
    at = message.sent_at.astimezone(zone)
    return mask(
        f"{at:%m-%d %H:%M}［{message.group_title}］{message.sender_name}：{clip(message.text)}"
    )


def warnings_table(views: Sequence[WarningView], zone: ZoneInfo) -> Table:
    """The warnings, newest first."""
    columns = (
        Column("编号", "warning"),
        Column("话题"),
        Column("消息数", "int"),
        Column("涉及群"),
        Column("首条"),
        Column("最新"),
        Column("趋势"),
        Column("预警时间", "datetime"),
    )
    rows = [
        (
            v.info.id,
            v.info.label,
            v.info.count,
            v.groups,
            quote(v.burst.messages[0] if v.burst.messages else None, zone),
            quote(v.burst.messages[-1] if v.burst.messages else None, zone),
            v.trend,
            v.info.raised_at.astimezone(zone).replace(tzinfo=None),
        )
        for v in views
    ]
    return Table("warnings", "舆情预警", columns, rows)


def messages_table(view: WarningView, zone: ZoneInfo) -> Table:
    """A warning's messages (masked), oldest first."""
    columns = (Column("时间", "datetime"), Column("群"), Column("居民"), Column("内容"))
    rows = [
        (
            m.sent_at.astimezone(zone).replace(tzinfo=None),
            m.group_title,
            mask(m.sender_name),
            mask(m.text),
        )
        for m in view.burst.messages
    ]
    return Table(f"warning_{view.info.id}", f"舆情预警 {view.info.label} 的消息", columns, rows)


def build_warnings(
    store: Store,
    since: datetime,
    until: datetime,
    scope: ReportScope,
    window: timedelta,
) -> list[WarningView]:
    """The warnings raised in [since, until) that ``scope`` admits, newest first."""
    found = store.warnings(since, until - timedelta(microseconds=1), scope)
    return [view_warning(store, info, scope, window) for info in found]
