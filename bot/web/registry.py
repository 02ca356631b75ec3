"""建议台账 — the suggestions registry (好想法好建议) in the console: every entry with its number,
status, group, date, suggester, text, latest note and the history of its status changes, filtered by
status, department, group and period within the viewer's scope; counts per status as ``/suggestions``
gives them. Residents' names and text (and the notes) are masked as the chat masks its listing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo

from bot.text.privacy import mask
from bot.web.tables import Column, Table
from handlers.registry import STATUS_LABELS, counts_line
from storage import RegistryChange, RegistryEntry, RegistryQuery, Store

ALL_TIME = "all"
"""The registry's default period: every entry ever made, as ``/suggestions`` counts them."""


@dataclass(frozen=True, slots=True)
class RegistryView:
    """What the registry page shows."""

    counts: dict[str, int]
    """Entries per status in the period and scope, whatever the status filter."""
    table: Table

    @property
    def counts_line(self) -> str:
        """``好想法好建议 2 条：已收到 1、已采纳 1``, the chat's words."""
        return counts_line(self.counts)


def history_text(changes: Sequence[RegistryChange], zone: ZoneInfo) -> str:
    """``11-16 09:00 已收到；11-17 10:00 研究中（张伟：已与物业商量场地）``."""
    steps = []
    for change in changes:
        at = change.at.astimezone(zone)
        said = "：".join(part for part in (change.official_name, change.note) if part)
        label = STATUS_LABELS.get(change.status, change.status)
        steps.append(f"{at:%m-%d %H:%M} {label}" + (f"（{said}）" if said else ""))
    return mask("；".join(steps))


def registry_table(
    entries: Sequence[RegistryEntry],
    history: Mapping[int, Sequence[RegistryChange]],
    zone: ZoneInfo,
) -> Table:
    """The registry's rows, newest first."""
    columns = (
        Column("编号"),
        Column("状态"),
        Column("群"),
        Column("登记时间", "datetime"),
        Column("建议人"),
        Column("内容"),
        Column("最新备注"),
        Column("更新时间", "datetime"),
        Column("办理记录"),
    )
    rows = [
        (
            e.number,
            STATUS_LABELS.get(e.status, e.status),
            e.group_title,
            e.created_at.astimezone(zone).replace(tzinfo=None),
            mask(e.suggester_name),
            mask(e.text),
            mask(e.note),
            e.updated_at.astimezone(zone).replace(tzinfo=None),
            history_text(history.get(e.id, ()), zone),
        )
        for e in entries
    ]
    return Table("registry", "建议台账", columns, rows)


def build_registry(store: Store, query: RegistryQuery, zone: ZoneInfo) -> RegistryView:
    """The registry for ``query``; the counts ignore its status (they are per status)."""
    entries = store.registry_search(query)
    history = store.registry_history(query)
    counts = store.registry_tally(replace(query, status=""))
    return RegistryView(counts, registry_table(entries, history, zone))
