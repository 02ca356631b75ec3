"""Public-opinion figures for supervisors' summaries: warnings raised, questions asked again (同问),
complaints nobody @-mentioned, and the suggestions registry — lines added under ``/summary``."""

from __future__ import annotations

from datetime import datetime

from bot.work import Context
from handlers.registry import counts_line
from storage import WarningInfo


async def opinion_lines(ctx: Context, since: datetime, until: datetime) -> list[str]:
    """The period's public-opinion figures, one line each."""
    store = ctx.store
    warnings = await ctx.db(store.warnings, since, until)
    same = await ctx.db(store.same_question_count, since, until)
    unaddressed, ticketed = await ctx.db(store.unaddressed_count, since, until)
    return [
        f"舆情预警 {len(warnings)} 次" + _listed(warnings),
        f"同问 {same} 个（并入已有问题办理）",
        f"未@的投诉与求助 {unaddressed} 条（已立案 {ticketed} 条）",
        counts_line(await ctx.db(store.registry_counts, since, until)),
    ]


def _listed(warnings: list[WarningInfo]) -> str:
    if not warnings:
        return ""
    return "：" + "、".join(f"{w.label}({w.count}条，{w.groups})" for w in warnings[:5])
