"""舆情预警 — early warning: a topic whose messages burst across groups warns supervisors and officials.

An observer, run after the record observer on every resident's group message with a topic
(``handlers.record.message_topic``). It counts the topic's messages in the last ``[opinion]
window_minutes``; when they are at least ``min_count`` and more than ``baseline_multiple`` times the
topic's usual count per window (measured over ``baseline_days`` before the window), it raises one
warning: stored, sent privately to the supervisors of the groups involved (count, groups, first and
latest message, trend; masked), and to the officials of each group involved about their own groups.
While that warning's window lasts, later messages only bring its count up to date; a later window
warns again only if the topic bursts again. Decided when a message arrives: there is no timer.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from bot.commands import strip_mention
from bot.text.privacy import mask
from bot.work import Context
from handlers.common import clip, local_time, tell_official
from handlers.record import message_topic
from handlers.scope import UNRESTRICTED_ROLES
from storage import OfficialInfo, TopicCounts, TopicMessageInfo

SUPERVISING = ("supervisor", "admin")


def topic_label(key: str) -> str:
    """What people call a topic: its key without the group prefix of a local topic."""
    return key.rsplit("|", 1)[-1]


def is_topical(ctx: Context) -> bool:
    """A resident's group message the record observer stored, about a topic."""
    analysis = ctx.analysis_
    return analysis is not None and analysis.stored is not None and not ctx.is_staff


async def watch(ctx: Context) -> None:
    """Count the message's topic in the window; raise or refresh the topic's warning."""
    key = message_topic(ctx)
    stored = ctx.stored
    if key is None or stored is None:
        return
    settings = ctx.settings.opinion
    window = timedelta(minutes=settings.window_minutes)
    lookback = timedelta(days=settings.baseline_days)
    at = stored.sent_at
    start = at - window
    tally = await ctx.db(
        ctx.store.topic_tally, key, window_start=start, lookback_start=start - lookback, until=at
    )
    if tally.warning_id is not None:
        msg = ctx.message
        await ctx.db(
            ctx.store.refresh_warning,
            tally.warning_id,
            count=tally.count,
            message_id=stored.id,
            sent_at=at,
            group_title=msg.chat.title or msg.chat.chat_id,
        )
        return
    baseline = tally.lookback * (window / lookback)
    if tally.count < settings.min_count or tally.count <= settings.baseline_multiple * baseline:
        return
    # A burst: now the details the warning quotes (groups, first and latest message).
    counts = await ctx.db(
        ctx.store.topic_counts, key, window_start=start, lookback_start=start - lookback, until=at
    )
    await ctx.db(
        ctx.store.raise_warning,
        counts,
        label=topic_label(key),
        baseline=baseline,
        window_start=start,
        at=ctx.now,
    )
    await _tell_supervisors(ctx, counts, baseline)
    await _tell_officials(ctx, counts)


def _minutes(ctx: Context) -> str:
    return f"{ctx.settings.opinion.window_minutes:g}分钟"


def _quote(ctx: Context, what: str, m: TopicMessageInfo | None) -> str:
    if m is None:
        return ""
    # Stored text keeps the resident's @政务助手; the bot's own name says nothing about the topic.
    names = [*ctx.settings.bot.aliases, *ctx.services.bot_usernames.values()]
    text = strip_mention(m.text, names)[0]
    return f"{what} {local_time(ctx, m.sent_at)}［{m.group_title}］{m.sender_name}：{clip(text)}"


def trend(counts: TopicCounts) -> str:
    """上升 / 持平 / 回落, with the previous window's count beside this one's."""
    word = (
        "上升"
        if counts.count > counts.previous
        else ("持平" if counts.count == counts.previous else "回落")
    )
    return f"{word}（前一时段 {counts.previous} 条 → 本时段 {counts.count} 条）"


def warning_text(ctx: Context, counts: TopicCounts, baseline: float) -> str:
    """The 舆情预警 supervisors get, residents' personal data masked."""
    label = topic_label(counts.key)
    groups = "、".join(f"{title}({n})" for _, _, title, n in counts.groups)
    lines = [
        f"【舆情预警】{label}",
        f"近{_minutes(ctx)} {counts.count} 条相关消息（平时每{_minutes(ctx)}约 {baseline:.1f} 条），"
        f"涉及 {len(counts.groups)} 个群：{groups}",
        f"趋势：{trend(counts)}",
        _quote(ctx, "首条", counts.first),
        _quote(ctx, "最新", counts.latest),
        "请关注并协调相关部门及时回应。",
    ]
    return mask("\n".join(line for line in lines if line))


async def _tell_supervisors(ctx: Context, counts: TopicCounts, baseline: float) -> None:
    """Admins, and the supervisors whose jurisdiction holds a group involved (the groups assigned to
    them on the roster): a supervisor with no groups sees no group's messages, so hears of no burst."""
    involved = {(p, c) for p, c, _, _ in counts.groups}
    text = warning_text(ctx, counts, baseline)
    for supervisor in await ctx.db(ctx.store.supervisors):
        groups = {(g.platform, g.chat_id) for g in await ctx.db(ctx.store.groups_of, supervisor.id)}
        if supervisor.role in UNRESTRICTED_ROLES or groups & involved:
            tell_official(ctx, supervisor, text, prefer=ctx.message.platform)


async def _tell_officials(ctx: Context, counts: TopicCounts) -> None:
    """Each official of a group involved hears about the burst in their own groups."""
    theirs: dict[int, list[tuple[str, int]]] = defaultdict(list)
    people: dict[int, OfficialInfo] = {}
    for platform, chat_id, title, n in counts.groups:
        for official in await ctx.db(ctx.store.officials_for_group, platform, chat_id):
            if official.role in SUPERVISING:
                continue
            people[official.id] = official
            theirs[official.id].append((title, n))
    label = topic_label(counts.key)
    for official_id, groups in theirs.items():
        listed = "、".join(f"{title}({n})" for title, n in groups)
        text = (
            f"【舆情提醒】近{_minutes(ctx)}您负责的群有 {sum(n for _, n in groups)} 条关于「{label}」"
            f"的消息：{listed}（各群合计 {counts.count} 条）。请及时在群里回应居民关切。"
        )
        tell_official(ctx, people[official_id], mask(text), prefer=ctx.message.platform)
