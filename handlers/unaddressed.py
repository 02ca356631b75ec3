"""Unaddressed complaints reach someone: a confident complaint or request for help posted in a group
without @-mentioning the bot is shown to the group's officials privately, in batches.

An observer after ``record``: the message is marked (``Message.needs_attention``); if the group's
officials were not shown such messages in the last ``[opinion] unaddressed_minutes``, everything the
group accumulated is sent to them now, in one message; otherwise it waits for the next such message
after that time, or for an official's ``/digest`` (``flush_groups``). Decided when a message arrives:
there is no timer. Each listed message can become a ticket with one action: reply to it in the group
with ``/ticket`` (立案).
"""

from __future__ import annotations

import re
from datetime import timedelta

from bot.text.privacy import mask
from bot.work import Context
from handlers.common import clip, local_time, tell_official
from handlers.scope import SUPERVISING_ROLES
from storage import GroupInfo

HELP_WORDS = re.compile(
    r"求助|帮帮|帮忙|救命|有人管|谁管|没人管|怎么办|幫幫|幫忙|誰管|沒人管|怎麼辦"
)
"""A question with these words asks for help rather than for information."""
MAX_LISTED = 10


def is_unaddressed_complaint(ctx: Context) -> bool:
    """A resident's stored group message, no command and no @-mention of the bot, that the classifier
    is sure is a complaint — or a question asking for help."""
    analysis = ctx.analysis_
    if analysis is None or analysis.stored is None or ctx.is_staff:
        return False
    if ctx.addressed or ctx.command is not None or not analysis.intent.confident:
        return False
    label = analysis.intent.label
    return label == "complaint" or (label == "question" and bool(HELP_WORDS.search(ctx.text)))


async def watch(ctx: Context) -> None:
    """Mark the message; show the group's accumulated ones unless they were shown lately."""
    stored = ctx.stored
    if stored is None or stored.group_id is None:
        return
    msg = ctx.message
    last = await ctx.db(ctx.store.mark_needs_attention, stored.id, stored.group_id)
    if last is not None and ctx.now - last < timedelta(
        minutes=ctx.settings.opinion.unaddressed_minutes
    ):
        return
    await flush(ctx, msg.platform, msg.chat.chat_id, msg.chat.title)


async def flush(ctx: Context, platform: str, chat_id: str, title: str) -> int:
    """Send the group's officials what it accumulated; returns how many messages were listed."""
    pending = await ctx.db(ctx.store.claim_unaddressed, platform, chat_id, ctx.now)
    if not pending:
        return 0
    lines = [f"【未@的投诉与求助】「{title or chat_id}」有 {len(pending)} 条居民消息没有@任何人："]
    for item in pending[:MAX_LISTED]:
        lines.append(f"· {local_time(ctx, item.sent_at)} {item.sender_name}：{clip(item.text, 60)}")
    if len(pending) > MAX_LISTED:
        lines.append(f"……另有 {len(pending) - MAX_LISTED} 条，见 /digest。")
    lines.append("需要办理的，请在群里「回复」该消息并发送 /ticket（立案）。")
    text = mask("\n".join(lines))
    for official in await ctx.db(ctx.store.officials_for_group, platform, chat_id):
        if official.role not in SUPERVISING_ROLES:
            tell_official(ctx, official, text, prefer=platform)
    return len(pending)


async def flush_groups(ctx: Context, groups: list[GroupInfo]) -> None:
    """Send what each of ``groups`` accumulated (an official asked for a digest)."""
    for group in groups:
        await flush(ctx, group.platform, group.chat_id, group.title)
