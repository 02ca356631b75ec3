"""潜水 — record every group message with its intent label and department guess.

These are observers: they run on every event they apply to and never end it. Officials' own group
messages are kept too; when no route claims them they count as engagement ``chat`` (see
``official_chat``). Edits update the stored text; membership changes of officials update which groups
they answer for.
"""

from __future__ import annotations

from bot.commands import parse_rating
from bot.events import EventKind
from bot.work import Context, StaffContext
from storage import EngagementKind


def is_group_talk(ctx: Context) -> bool:
    """A new group message with text, from someone the platform names."""
    msg = ctx.message
    return (
        msg.kind is EventKind.MESSAGE
        and msg.chat.is_group
        and bool(msg.text.strip())
        and not msg.sender.anonymous
    )


async def record(ctx: Context) -> None:
    """Store a group message with what the text services make of it."""
    msg = ctx.message
    analysis = ctx.analysis()
    intent, department = analysis.intent, analysis.department
    analysis.stored = await ctx.db(
        ctx.store.record_message,
        platform=msg.platform,
        chat_id=msg.chat.chat_id,
        chat_title=msg.chat.title,
        is_group=True,
        platform_message_id=msg.message_id,
        sender_id=msg.sender.user_id,
        sender_name=msg.sender.display_name,
        text=msg.text,
        sent_at=msg.sent_at,
        intent=intent.label,
        intent_confidence=intent.confidence,
        intent_confident=intent_is_sure(ctx),
        department=department.label if department.confident else "",
        reply_to=msg.reply_to_message_id,
        from_official=ctx.is_staff,
        topic_key=message_topic(ctx),
    )


def intent_is_sure(ctx: Context) -> bool:
    """Whether the message's intent label stands as sure: the classifier is confident, and it is not
    a rating that reads like a suggestion (「基本满意，希望按时完工」 rates an answer; the wish is about
    that ticket, not an idea for the registry, the summaries' 居民建议 or a digest)."""
    intent = ctx.analysis().intent
    if intent.label == "suggestion" and parse_rating(ctx.text) is not None:
        return False
    return intent.confident


def message_topic(ctx: Context) -> str | None:
    """What a resident's message is about, for early warning (handlers/opinion.py); officials' own
    messages and sure small talk have no topic."""
    analysis = ctx.analysis()
    # Sure small talk has no topic (analysis.topic is None); the text is without the bot's
    # @-mention: a bare "@政务助手" is about nothing (its name is no topic, or every empty mention
    # would be the same question). The topic was found with the intent, off the event loop.
    if ctx.is_staff or analysis.topic is None or not ctx.text.strip():
        return None
    msg = ctx.message
    return analysis.topic.key(f"{msg.platform}:{msg.chat.chat_id}")


def is_edit(ctx: Context) -> bool:
    """An earlier message's text changed."""
    return ctx.message.kind is EventKind.EDITED


async def edit(ctx: Context) -> None:
    """An edited message replaces the stored text (and the text of its waiting question)."""
    msg = ctx.message
    await ctx.db(
        ctx.store.edit_message,
        msg.platform,
        msg.chat.chat_id,
        msg.message_id,
        msg.text,
        msg.sent_at,
        ctx.text,
    )


def is_membership(ctx: Context) -> bool:
    """Somebody joined or left a group."""
    return ctx.message.kind in (EventKind.MEMBER_JOINED, EventKind.MEMBER_LEFT)


async def membership(ctx: Context) -> None:
    """Officials joining a group start answering for it; leaving stops it."""
    msg = ctx.message
    store = ctx.store
    for member in msg.members:
        official = await ctx.db(store.official_for_identity, member.platform, member.user_id)
        if official is None or official.role == "supervisor":
            continue
        if msg.kind is EventKind.MEMBER_JOINED:
            await ctx.db(
                store.assign_by_id,
                official.id,
                msg.platform,
                msg.chat.chat_id,
                msg.chat.title,
                ctx.now,
            )
        else:
            await ctx.db(store.unassign, official.id, msg.platform, msg.chat.chat_id)


def is_stored_talk(ctx: Context) -> bool:
    """A group message the record observer stored."""
    analysis = ctx.analysis_
    return analysis is not None and analysis.stored is not None


async def official_chat(ctx: StaffContext) -> None:
    """An official's group message that no command or answer claimed is engagement ``chat`` (聊天)."""
    msg = ctx.message
    stored = ctx.stored
    await ctx.db(
        ctx.store.record_engagement,
        ctx.official.id,
        EngagementKind.CHAT,
        msg.sent_at,
        platform=msg.platform,
        chat_id=msg.chat.chat_id,
        message_id=stored.id if stored is not None else None,
    )
