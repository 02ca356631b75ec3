"""潜水 — record every group message with its intent label and department guess.

Officials' own group messages are kept too; when nothing else claims them they count as engagement
``chat`` (see ``OfficialChatHandler``). Edits update the stored text; membership changes of officials
update which groups they answer for.
"""

from __future__ import annotations

from bot.dispatch import Context
from bot.events import EventKind
from storage import EngagementKind


class RecordHandler:
    """Store each new group message; never consumes the event."""

    async def __call__(self, ctx: Context) -> bool:
        msg = ctx.message
        if msg.kind is not EventKind.MESSAGE or not msg.chat.is_group or not msg.text.strip():
            return False
        text_services = ctx.services.text
        intent = text_services.intent(ctx.text or msg.text)
        department = text_services.department(ctx.text or msg.text)
        ctx.state["intent"] = intent
        ctx.state["intent_text"] = ctx.text or msg.text
        ctx.state["department"] = department
        stored = await ctx.services.db(
            ctx.services.store.record_message,
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
            intent_confident=intent.confident,
            department=department.label if department.confident else "",
            reply_to=msg.reply_to_message_id,
            from_official=ctx.is_staff,
        )
        ctx.state["stored_message"] = stored
        return False


class EditHandler:
    """An edited message replaces the stored text (and the text of its waiting question)."""

    async def __call__(self, ctx: Context) -> bool:
        msg = ctx.message
        if msg.kind is not EventKind.EDITED:
            return False
        await ctx.services.db(
            ctx.services.store.edit_message,
            msg.platform,
            msg.chat.chat_id,
            msg.message_id,
            msg.text,
            msg.sent_at,
            ctx.text,
        )
        return True


class MembershipHandler:
    """Officials joining a group start answering for it; leaving stops it."""

    async def __call__(self, ctx: Context) -> bool:
        msg = ctx.message
        if msg.kind not in (EventKind.MEMBER_JOINED, EventKind.MEMBER_LEFT):
            return False
        store = ctx.services.store
        for member in msg.members:
            official = await ctx.services.db(
                store.official_for_identity, member.platform, member.user_id
            )
            if official is None or official.role == "supervisor":
                continue
            if msg.kind is EventKind.MEMBER_JOINED:
                await ctx.services.db(
                    store.assign_by_id,
                    official.id,
                    msg.platform,
                    msg.chat.chat_id,
                    msg.chat.title,
                    ctx.now,
                )
            else:
                await ctx.services.db(store.unassign, official.id, msg.platform, msg.chat.chat_id)
        return True


class OfficialChatHandler:
    """An official's group message that no command or answer claimed is engagement ``chat`` (聊天)."""

    async def __call__(self, ctx: Context) -> bool:
        msg = ctx.message
        stored = ctx.state.get("stored_message")
        if ctx.official is None or not msg.chat.is_group or stored is None:
            return False
        await ctx.services.db(
            ctx.services.store.record_engagement,
            ctx.official.id,
            EngagementKind.CHAT,
            msg.sent_at,
            platform=msg.platform,
            chat_id=msg.chat.chat_id,
            message_id=getattr(stored, "id", None),
        )
        return True
