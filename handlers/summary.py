"""Supervisors read engagement summaries: ``/summary today|7d|30d`` (统计 7d).

A supervisor sees only their jurisdiction (the groups assigned to them, their department), an admin
everything. Per official: questions assigned, answered, answered on time, median first-response time, the three
rates (response, resolution, satisfaction) and chat/speak/lurk counts; the same totals per group and
per department, the overdue questions and the hot topics, residents' personal data masked
(``bot.text.privacy``). ``format_summary`` also serves the CLI's
``minyi report`` in table, CSV and Markdown form.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.text.hot_topics import phrase_support, rank_phrases
from bot.text.privacy import mask
from bot.work import StaffContext
from handlers.common import clip, duration
from handlers.opinion_figures import opinion_lines
from handlers.scope import jurisdiction
from storage import Store, Summary, Tally
from storage.reports import ReportScope

PERIOD_WORDS = {
    "today": "today",
    "今天": "today",
    "今日": "today",
    "本周": "7d",
    "本月": "30d",
    "一周": "7d",
    "近7天": "7d",
    "近30天": "30d",
}
OVERDUE_LISTED = 20
"""Overdue questions a summary names (soonest due first); it says how many more there are."""
_PERIOD = re.compile(r"^(\d{1,4})\s*(d|h|天|日|小时)$", re.I)


class PeriodError(ValueError):
    """A period people typed that cannot be read."""


def parse_period(text: str, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime, str]:
    """``today``, ``7d``, ``24h``, ``30天``, ``本周`` → (since, until, label). Until is ``now``."""
    word = PERIOD_WORDS.get(text.strip().lower(), text.strip().lower()) or "7d"
    if word == "today":
        local = now.astimezone(zone)
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.astimezone(now.tzinfo), now, "今天"
    match = _PERIOD.match(word)
    if not match:
        raise PeriodError(f"无法识别的时间范围「{text}」，可用：today、7d、30d、24h")
    amount, unit = int(match.group(1)), match.group(2).lower()
    if amount <= 0:
        raise PeriodError("时间范围必须大于 0")
    hours = unit in ("h", "小时")
    delta = timedelta(hours=amount) if hours else timedelta(days=amount)
    return now - delta, now, f"近{amount}{'小时' if hours else '天'}"


def percent(value: float | None) -> str:
    """``87.5%`` or ``—`` when there is nothing to divide."""
    return "—" if value is None else f"{value * 100:.1f}%"


def _median(t: Tally) -> str:
    seconds = t.median_response_seconds
    return "—" if seconds is None else duration(seconds)


COLUMNS = (
    ("名称", lambda t: t.label),
    ("部门", lambda t: t.department),
    ("问题", lambda t: str(t.questions)),
    ("已答复", lambda t: str(t.answered)),
    ("按时答复", lambda t: str(t.answered_on_time)),
    ("超时未答", lambda t: str(t.overdue)),
    ("响应率", lambda t: percent(t.response_rate)),
    ("解决率", lambda t: percent(t.resolution_rate)),
    ("满意率", lambda t: percent(t.satisfaction_rate)),
    ("首次响应中位数", _median),
    ("评价数", lambda t: str(t.rated)),
    ("聊天", lambda t: str(t.engagements.get("chat", 0))),
    ("发声", lambda t: str(t.engagements.get("speak", 0))),
    ("潜水", lambda t: str(t.engagements.get("lurk", 0))),
    ("答复", lambda t: str(t.engagements.get("answer", 0))),
    ("建议", lambda t: str(t.suggestions)),
    ("投诉", lambda t: str(t.complaints)),
    ("走访", lambda t: str(t.engagements.get("visit", 0))),
    ("转入", lambda t: str(t.transfers_in)),
    ("退回", lambda t: str(t.returns)),
)
SECTIONS = (("按人员", "officials"), ("按群", "groups"), ("按部门", "departments"))


def _rows(summary: Summary) -> list[tuple[str, Tally]]:
    rows: list[tuple[str, Tally]] = []
    for title, attr in SECTIONS:
        rows.extend((title, t) for t in getattr(summary, attr))
    rows.append(("合计", summary.total))
    return rows


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def format_summary(summary: Summary, fmt: str, zone: ZoneInfo, hot: list[tuple[str, int]]) -> str:
    """Render a summary as ``table``, ``csv`` or ``markdown``, personal data masked."""
    return mask(_format_summary(summary, fmt, zone, hot))


def _format_summary(summary: Summary, fmt: str, zone: ZoneInfo, hot: list[tuple[str, int]]) -> str:
    header = ["范围", *(name for name, _ in COLUMNS)]
    body = [[section, *(fn(t) for _, fn in COLUMNS)] for section, t in _rows(summary)]
    since = summary.since.astimezone(zone)
    until = summary.until.astimezone(zone)
    period = f"{since:%Y-%m-%d %H:%M} — {until:%Y-%m-%d %H:%M} ({zone.key})"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)
        return out.getvalue()
    overdue = [
        f"{q.number}（{q.group_title}，承办 {q.assignee_name or '未分配'}）"
        for q in summary.overdue
    ]
    tail = [
        f"超时未答复：{_overdue_list(summary, overdue)}",
        f"热点话题：{'、'.join(f'{w}({n})' for w, n in hot) if hot else '无'}",
        f"居民建议 {summary.total.suggestions} 条" + ("：" if summary.suggestions else ""),
        *(f"  ［{title}］{name}：{text}" for title, name, text in summary.suggestions),
    ]
    if fmt == "markdown":
        lines = [f"### 履职统计 {period}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        lines.extend("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body)
        return "\n".join([*lines, "", *(f"- {t}" for t in tail)]) + "\n"
    widths = [max(_width(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [f"履职统计 {period}"]
    lines.append("  ".join(_pad(h, w) for h, w in zip(header, widths, strict=True)).rstrip())
    lines.extend(
        "  ".join(_pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip() for r in body
    )
    return "\n".join([*lines, *tail]) + "\n"


def chat_summary(summary: Summary, label: str, hot: list[tuple[str, int]]) -> str:
    """A compact summary for a chat window (tables do not survive phone screens), masked."""
    return mask(_chat_summary(summary, label, hot))


def _chat_summary(summary: Summary, label: str, hot: list[tuple[str, int]]) -> str:
    t = summary.total
    lines = [
        f"【履职统计·{label}】问题 {t.questions} 个，已答复 {t.answered}，按时 {t.answered_on_time}，"
        f"超时未答 {t.overdue}。",
        f"响应率 {percent(t.response_rate)}｜解决率 {percent(t.resolution_rate)}｜"
        f"满意率 {percent(t.satisfaction_rate)}｜首次响应中位数 {_median(t)}",
        "按人员：",
    ]
    for o in summary.officials:
        e = o.engagements
        lines.append(
            f"· {o.label}：问题{o.questions} 答复{o.answered} 按时{o.answered_on_time} "
            f"中位{_median(o)} 满意率{percent(o.satisfaction_rate)} "
            f"聊天{e.get('chat', 0)} 发声{e.get('speak', 0)} 潜水{e.get('lurk', 0)}"
        )
    if summary.groups:
        lines.append("按群：")
        for g in summary.groups:
            lines.append(
                f"· {g.label}：消息{g.messages} 问题{g.questions} 答复{g.answered} "
                f"建议{g.suggestions} 投诉{g.complaints} 满意率{percent(g.satisfaction_rate)}"
            )
    if summary.departments:
        lines.append("按部门：")
        for d in summary.departments:
            lines.append(
                f"· {d.label}：问题{d.questions} 答复{d.answered} 解决率{percent(d.resolution_rate)}"
                + (f" 转入{d.transfers_in} 退回{d.returns}" if d.transfers_in or d.returns else "")
            )
    lines.append(f"超时未答复：{_overdue_list(summary, [q.number for q in summary.overdue])}")
    if hot:
        lines.append("热点话题：" + "、".join(w for w, _ in hot))
    if summary.suggestions:
        lines.append(f"居民建议 {t.suggestions} 条，最新：")
        lines.extend(
            f"· ［{title}］{name}：{clip(mask(text))}"
            for title, name, text in summary.suggestions[:5]
        )
    return "\n".join(lines)


def _overdue_list(summary: Summary, named: list[str]) -> str:
    """The overdue questions named, and how many more there are when the summary lists only some."""
    more = summary.overdue_total - len(named)
    return "、".join(named) + (f" 等共 {summary.overdue_total} 个" if more > 0 else "") or "无"


HOT_PHRASES = phrase_support
"""What ``Store.summary`` takes as ``phrase_support`` for a summary that shows hot topics."""


def hot_topics(summary: Summary, k: int = 5) -> list[tuple[str, int]]:
    """The period's ``k`` hot topics, from the phrases its questions mention (``Summary.phrase_counts``:
    stored with each question from its text with personal data masked, so an e-mail address does not
    lend its name to the topics). The summary must have been made with ``phrase_support=HOT_PHRASES``."""
    if summary.phrase_counts is None:
        raise ValueError("a summary made without phrase_support has no hot topics")
    return rank_phrases(summary.phrase_counts, k)


def read_summary(
    store: Store,
    since: datetime,
    until: datetime,
    now: datetime,
    scope: ReportScope,
) -> tuple[Summary, list[tuple[str, int]], list[str]]:
    """What ``/summary`` shows, read-only: the summary naming the first overdue questions, its hot
    topics and the public-opinion lines."""
    found = store.summary(
        since, until, now, scope, overdue_limit=OVERDUE_LISTED, phrase_support=HOT_PHRASES
    )
    return found, hot_topics(found), opinion_lines(store, since, until, scope)


async def summary(ctx: StaffContext) -> None:
    """``summary`` (统计) — supervisors only (the route says so), within their jurisdiction."""
    assert ctx.command is not None
    zone = ctx.settings.bot.zone
    try:
        since, until, label = parse_period(ctx.command.rest or "7d", ctx.now, zone)
    except PeriodError as exc:
        ctx.reply(str(exc))
        return
    scope = ReportScope.of(jurisdiction(ctx.official))
    # A long read over the whole period: done before this event's unit, without holding up the
    # other chats (``bot.reads``).
    found, hot, opinion = await ctx.read(read_summary, since, until, ctx.now, scope)
    ctx.reply("\n".join([chat_summary(found, label, hot), *opinion]), quote=False)
