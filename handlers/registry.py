"""好想法好建议 — the suggestions registry.

A resident's group message not addressed to the bot (that one becomes a ticket) that the classifier is
sure is a suggestion (not a rating such as 「基本满意，希望按时完工」) becomes an entry (``S3``, status 已收到) without a word in the group; an official marks any
message as one by replying to it with ``/adopt`` (采纳), and the resident is told its number. ``/suggestion
S3 研究中 备注`` changes the status (已收到 → 研究中 → 已采纳 / 部分采纳 / 暂不采纳) with a note, and the
suggester hears it in their group, under their message. ``/suggestions`` lists the registry for
supervisors, privately; ``minyi suggestions`` prints it; ``/summary`` counts it.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from bot.events import OutgoingMessage
from bot.text.normalise import normalise
from bot.text.privacy import mask
from bot.work import Context, StaffContext
from handlers import scope
from handlers.ask import NewTicket
from handlers.common import clip, signature
from handlers.record import intent_is_sure
from storage import RegistryEntry, SuggestionStatus
from storage.reports import ReportScope

STATUS_LABELS = {
    SuggestionStatus.RECEIVED: "已收到",
    SuggestionStatus.STUDYING: "研究中",
    SuggestionStatus.ADOPTED: "已采纳",
    SuggestionStatus.PARTLY: "部分采纳",
    SuggestionStatus.DECLINED: "暂不采纳",
}
STATUS_WORDS = {
    **{label: status for status, label in STATUS_LABELS.items()},
    "收到": SuggestionStatus.RECEIVED,
    "研究": SuggestionStatus.STUDYING,
    "采纳": SuggestionStatus.ADOPTED,
    "不采纳": SuggestionStatus.DECLINED,
}
"""Status words officials type (Traditional input is normalised to Simplified first)."""
USAGE = "用法：/suggestion S3 研究中 备注（状态：已收到、研究中、已采纳、部分采纳、暂不采纳）。"
NUMBER = re.compile(r"^[#＃]?[SsＳｓ]?(\d{1,9})$")
LISTED = 20
IN_PRIVATE = "请在群里「回复」居民的建议并发送 /adopt（采纳），将其登记为好想法好建议。"


def parse_entry_number(word: str) -> int | None:
    """``S3``, ``s3`` or ``3`` → 3."""
    match = NUMBER.match(word.strip())
    return int(match.group(1)) if match else None


def is_suggestion(ctx: Context) -> bool:
    """A resident's stored group message, not to the bot, the classifier is sure is a suggestion and
    that is not a rating."""
    analysis = ctx.analysis_
    if analysis is None or analysis.stored is None or ctx.is_staff or ctx.command is not None:
        return False
    if ctx.addressed:  # a message to the bot becomes a ticket, answered as one
        return False
    return analysis.intent.label == "suggestion" and intent_is_sure(ctx)


async def register(ctx: Context) -> None:
    """Enter a confident suggestion in the registry (silently: the group is not told)."""
    stored = ctx.stored
    if stored is not None:  # stored by this event's unit just now: it has no entry yet
        await ctx.db(ctx.store.enter_suggestion, stored.id, ctx.now)


async def adopt(ctx: StaffContext) -> None:
    """``/adopt`` (采纳) as a reply to a resident's message in the group: enter it in the registry."""
    msg = ctx.message
    if not msg.reply_to_message_id:
        scope.refuse(ctx, IN_PRIVATE)
        return
    if not await scope.check(ctx, NewTicket(msg.platform, msg.chat.chat_id, ""), "这条消息"):
        return
    message_id = await ctx.db(
        ctx.store.stored_message_id, msg.platform, msg.chat.chat_id, msg.reply_to_message_id
    )
    if message_id is None:
        ctx.reply("没有找到这条消息的记录（机器人入群前的消息无法登记）。")
        return
    entry, created = await ctx.db(
        ctx.store.register_suggestion, message_id, ctx.now, adopted_by=ctx.official.id
    )
    if not created:
        scope.refuse(ctx, f"这条建议已登记为 {entry.number}（{STATUS_LABELS[entry.status]}）。")
        return
    ctx.reply(
        f"感谢您的建议！已登记为好想法好建议 {entry.number}，办理进展会在群里告诉您。",
        reply_to=entry.platform_message_id,
        mention=True,
        what=f"the registration of {entry.number}",
    )


def _parse_change(ctx: StaffContext) -> tuple[int, str, str] | None:
    assert ctx.command is not None
    parts = ctx.command.rest.split(None, 2)
    if len(parts) < 2:
        return None
    number = parse_entry_number(parts[0])
    status = STATUS_WORDS.get(normalise(parts[1]))
    if number is None or status is None:
        return None
    return number, status, parts[2].strip() if len(parts) > 2 else ""


async def change(ctx: StaffContext) -> None:
    """``/suggestion S3 研究中 备注``: a new status with a note; the suggester hears it in the group."""
    parsed = _parse_change(ctx)
    if parsed is None:
        ctx.reply(USAGE)
        return
    number, status, note = parsed
    entry = await ctx.db(ctx.store.registry_entry, number)
    if entry is None:
        ctx.reply(f"没有找到建议 S{number}。")
        return
    if not await scope.check(ctx, NewTicket(entry.platform, entry.chat_id, ""), entry.number):
        return
    updated = await ctx.db(
        ctx.store.change_suggestion, number, status, note, official_id=ctx.official.id, at=ctx.now
    )
    assert updated is not None
    label = STATUS_LABELS[status]
    ctx.send(
        OutgoingMessage(
            platform=updated.platform,
            chat_id=updated.chat_id,
            text=f"【{updated.number} 建议进展】您的建议「{clip(updated.text)}」：{label}。"
            + (f"\n{note}" if note else "")
            + f"\n{signature(ctx.official)}",
            reply_to_message_id=updated.platform_message_id,
            mention_user_ids=(updated.suggester_user_id,),
            is_private=False,
        ),
        what=f"the progress of {updated.number}",
    )
    ctx.reply(f"{updated.number} 已更新为「{label}」，已在群里告知建议人。", quote=False)


def entry_line(entry: RegistryEntry, zone: ZoneInfo) -> str:
    """One registry line: number, group, suggester, text, status, note and the day it was made."""
    note = f"，{clip(entry.note, 30)}" if entry.note else ""
    day = entry.created_at.astimezone(zone)
    return (
        f"· {entry.number}［{entry.group_title}］{entry.suggester_name}：{clip(entry.text)}"
        f"（{STATUS_LABELS.get(entry.status, entry.status)}{note}，{day.month}月{day.day}日）"
    )


def registry_text(entries: list[RegistryEntry], counts: dict[str, int], zone: ZoneInfo) -> str:
    """The registry as a message or a printout: counts per status, then the entries; masked."""
    lines = [f"【{counts_line(counts)}】", *(entry_line(e, zone) for e in entries)]
    return mask("\n".join(lines))


def counts_line(counts: dict[str, int]) -> str:
    """``好想法好建议 5 条：已收到 2、研究中 1 …`` (statuses with none left out)."""
    parts = [f"{label} {counts[s]}" for s, label in STATUS_LABELS.items() if counts.get(s)]
    return f"好想法好建议 {sum(counts.values())} 条" + ("：" + "、".join(parts) if parts else "")


async def listing(ctx: StaffContext) -> None:
    """``/suggestions``: the latest registry entries and the counts per status (supervisors)."""
    within = ReportScope.of(scope.jurisdiction(ctx.official))  # what this supervisor oversees
    entries = await ctx.db(ctx.store.registry, LISTED, within)
    counts = await ctx.db(ctx.store.registry_counts, None, ctx.now, within)
    hint = "\n更新状态：/suggestion S3 研究中 备注" if entries else ""
    ctx.reply(registry_text(entries, counts, ctx.settings.bot.zone) + hint, quote=False)
