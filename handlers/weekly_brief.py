"""网情动态 in a chat: the weekly brief's figures as one short private message — the week's questions
against last week's, the loop's rates, the hot topics, complaints and suggestions, and the public-
opinion lines of ``/summary`` — within the reader's jurisdiction, residents' personal data masked.
The full page (charts, ticket numbers) is the web console's (``bot/web/brief.py``, ``minyi brief``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.text.privacy import mask
from bot.when import Week
from handlers.opinion_figures import opinion_lines
from handlers.summary import HOT_PHRASES, hot_topics, percent
from storage import Store
from storage.reports import ReportScope


def brief_text(store: Store, week: Week, now: datetime, scope: ReportScope) -> str:
    """The brief of ``week`` within ``scope``. Reads the store directly: call it off the event loop."""
    summary = store.summary(week.since, week.until, now, scope, phrase_support=HOT_PHRASES)
    previous = store.summary(week.since - timedelta(days=7), week.since, now, scope).total
    complaints, _ = store.raised(week.since, week.until, "complaint", scope, limit=0)
    suggestions, _ = store.raised(week.since, week.until, "suggestion", scope, limit=0)
    t = summary.total
    hot = hot_topics(summary)
    lines = [
        f"【网情动态】{week.label}",
        f"居民提问 {t.questions} 个（上周 {previous.questions} 个，较上周 "
        f"{t.questions - previous.questions:+d}），已答复 {t.answered}，按时 {t.answered_on_time}，"
        f"超时未答 {t.overdue}。",
        f"响应率 {percent(t.response_rate)}｜解决率 {percent(t.resolution_rate)}｜"
        f"满意率 {percent(t.satisfaction_rate)}",
        f"热点话题：{'、'.join(f'{w}({n})' for w, n in hot) if hot else '无'}",
        f"居民投诉 {complaints} 条，建议 {suggestions} 条。",
        *opinion_lines(store, week.since, week.until, scope),
        f"完整简报（图表、工单号）：督查工作台「网情动态」，或 minyi brief --week {week.key}。",
    ]
    return mask("\n".join(lines))
