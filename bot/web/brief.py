"""网情动态: the weekly brief for leaders — what residents raised, the hot topics, the loop's figures,
notable complaints and suggestions — each number tracing to tickets (topics list their ticket
numbers; the departments' rows are the summary's). Rendered as one self-contained HTML page; pdf.py
prints it to PDF."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment
from markupsafe import Markup

from bot.text.hot_topics import phrase_support, rank_phrases
from bot.when import Week, WeekError, parse_week
from storage import Store, Summary, Tally
from storage.opinion import RaisedMessage
from storage.reports import EVERYTHING, ReportScope

__all__ = ["Brief", "HotTopic", "Week", "WeekError", "build_brief", "parse_week", "render_brief"]

TOPICS = 8
TICKETS_PER_TOPIC = 12


@dataclass(frozen=True, slots=True)
class HotTopic:
    """A word many questions used, how many, and the tickets that used it."""

    word: str
    count: int
    tickets: list[str]


@dataclass(frozen=True, slots=True)
class Brief:
    """Everything the brief shows for one week."""

    week: Week
    summary: Summary
    previous: Tally
    topics: list[HotTopic]
    complaints: tuple[int, list[RaisedMessage]]
    suggestions: tuple[int, list[RaisedMessage]]
    made_at: datetime


def hot_topics(
    store: Store, since: datetime, until: datetime, scope: ReportScope
) -> list[HotTopic]:
    """The period's hot topics within ``scope`` (the summary's: counted from the phrases stored with
    the questions, ranked by ``rank_phrases``), each with the newest tickets that mention it."""
    ranked = rank_phrases(store.phrase_counts(since, until, scope, phrase_support), TOPICS)
    tickets = store.tickets_mentioning(
        since, until, scope, [word for word, _ in ranked], TICKETS_PER_TOPIC
    )
    return [HotTopic(word, n, [f"Q{number}" for number in tickets[word]]) for word, n in ranked]


def build_brief(store: Store, week: Week, now: datetime, scope: ReportScope = EVERYTHING) -> Brief:
    """Gather the brief for ``week`` within ``scope``."""
    summary = store.summary(week.since, week.until, now, scope)
    previous = store.summary(week.since - timedelta(days=7), week.since, now, scope).total
    return Brief(
        week=week,
        summary=summary,
        previous=previous,
        topics=hot_topics(store, week.since, week.until, scope),
        complaints=store.raised(week.since, week.until, "complaint", scope),
        suggestions=store.raised(week.since, week.until, "suggestion", scope),
        made_at=now,
    )


def change(now: float | None, before: float | None, percent: bool = False) -> str:
    """``较上周 +3`` / ``较上周 -2.5个百分点`` / ``—``."""
    if now is None or before is None:
        return "—"
    delta = (now - before) * (100 if percent else 1)
    if percent:
        return f"较上周 {delta:+.1f}个百分点"
    return f"较上周 {delta:+.0f}"


def render_brief(env: Environment, brief: Brief, zone: ZoneInfo, css_href: str = "") -> str:
    """The brief as one HTML page: the stylesheet inlined unless ``css_href`` links it."""
    css = Markup((Path(__file__).parent / "static" / "brief.css").read_text(encoding="utf-8"))
    return env.get_template("brief.html").render(
        brief=brief,
        zone=zone,
        css=None if css_href else css,
        css_href=css_href,
        change=change,
    )
