"""Public-opinion figures for supervisors' summaries: warnings raised, questions asked again (同问),
complaints nobody @-mentioned, and the suggestions registry — lines added under ``/summary`` and
``minyi report``."""

from __future__ import annotations

from datetime import datetime

from bot.text.privacy import mask
from handlers.registry import counts_line
from storage import Store, WarningInfo
from storage.reports import EVERYTHING, ReportScope


def opinion_lines(
    store: Store, since: datetime, until: datetime, scope: ReportScope = EVERYTHING
) -> list[str]:
    """The period's public-opinion figures within ``scope`` (a supervisor's jurisdiction), one line
    each, residents' personal data masked. Reads the store directly: call it off the event loop
    (``ctx.db``)."""
    warnings = store.warnings(since, until, scope)
    same = store.same_question_count(since, until, scope)
    unaddressed, ticketed = store.unaddressed_count(since, until, scope)
    lines = [
        f"舆情预警 {len(warnings)} 次" + _listed(warnings),
        f"同问 {same} 个（并入已有问题办理）",
        f"未@的投诉与求助 {unaddressed} 条（已立案 {ticketed} 条）",
        counts_line(store.registry_counts(since, until, scope)),
    ]
    return [mask(line) for line in lines]


def _listed(warnings: list[WarningInfo]) -> str:
    if not warnings:
        return ""
    return "：" + "、".join(f"{w.label}({w.count}条，{w.groups})" for w in warnings[:5])
