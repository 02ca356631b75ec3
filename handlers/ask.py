"""有问必答 — a resident's @-mention opens a ticket; the group gets an acknowledgement with the number,
the promised time and who handles it; the officials of the group get it privately with suggestions.

Small talk addressed to the bot (你好, 收到, emoji) gets a friendly word and no ticket. An official can
also promote a resident's message to a ticket by replying to it with ``/ticket`` (立案).
"""

from __future__ import annotations

from datetime import timedelta

from bot.dispatch import Context
from bot.events import EventKind
from bot.text import Prediction
from handlers.assignment import choose_assignee
from handlers.common import STAFF, local_time, require, send_or_log
from handlers.suggest import offer_suggestions
from storage import QuestionInfo

GREETING = "您好！我是{name}。有问题请@我并写明具体情况（如地点、时间），我会登记并转给工作人员，{hours}小时内答复。"


async def open_ticket(
    ctx: Context,
    *,
    message_id: str,
    asker_id: str,
    asker_name: str,
    text: str,
) -> QuestionInfo:
    """Open a ticket for a message of this chat, acknowledge it in the chat, alert the officials."""
    services = ctx.services
    msg = ctx.message
    department = services.text.department(text)
    deadline = timedelta(hours=services.settings.bot.answer_deadline_hours)
    now = ctx.now
    label = department.label if department.confident else ""
    group = await services.db(services.store.assignment_candidates, msg.platform, msg.chat.chat_id)
    question = await services.db(
        services.store.open_question,
        platform=msg.platform,
        chat_id=msg.chat.chat_id,
        chat_title=msg.chat.title,
        is_group=msg.chat.is_group,
        platform_message_id=message_id,
        asker_id=asker_id,
        asker_name=asker_name,
        text=text,
        department=label,
        department_confident=department.confident,
        created_at=now,
        due_at=now + deadline,
        assignee_id=choose_assignee(group, label),
    )
    officials = await services.db(
        services.store.officials_for_group, msg.platform, msg.chat.chat_id
    )
    handler = (
        f"由{question.assignee_name}负责办理" if question.assignee_name else "已转交工作人员办理"
    )
    # The ticket is stored, so the officials must hear of it even if the acknowledgement is lost: a
    # lost acknowledgement costs the resident a receipt, a lost alert costs them an answer.
    _, ack = await send_or_log(
        f"the acknowledgement of {question.number} in chat {msg.chat.chat_id}",
        ctx.reply(
            f"已收到您的问题，编号 {question.number}。{handler}，"
            f"将于 {local_time(ctx, question.due_at)} 前答复。"
            f"可发送「进度 {question.number}」查询办理情况。",
            reply_to=message_id,
            mention=True,
        ),
    )
    if ack is not None:
        await services.db(services.store.attach_ack, question.id, ack.message_id)
    targets = [o for o in officials if o.id == question.assignee_id] or [
        o for o in officials if o.role != "supervisor"
    ]
    for official in targets:
        await offer_suggestions(ctx, question, official, prefer=msg.platform)
    return question


class AskHandler:
    """A resident addressing the bot in a group without a command is asking a question."""

    async def __call__(self, ctx: Context) -> bool:
        msg = ctx.message
        if (
            msg.kind is not EventKind.MESSAGE
            or not msg.chat.is_group
            or not ctx.addressed
            or ctx.command is not None
            or ctx.is_staff
        ):
            return False
        settings = ctx.services.settings
        greeting = GREETING.format(
            name=settings.bot.name, hours=round(settings.bot.answer_deadline_hours)
        )
        if not ctx.text.strip():
            await ctx.reply(greeting)
            return True
        intent = ctx.state.get("intent")
        if not isinstance(intent, Prediction):
            intent = ctx.services.text.intent(ctx.text)
        if intent.label == "chatter" and intent.confident:
            await ctx.reply(greeting)
            return True
        await open_ticket(
            ctx,
            message_id=msg.message_id,
            asker_id=msg.sender.user_id,
            asker_name=msg.sender.display_name,
            text=ctx.text,
        )
        return True


class TicketHandler:
    """``/ticket`` (立案) as a reply to a resident's message turns that message into a ticket."""

    async def __call__(self, ctx: Context) -> bool:
        if ctx.command is None or ctx.command.name != "ticket":
            return False
        if not await require(ctx, STAFF):
            return True
        msg = ctx.message
        if not msg.chat.is_group or not msg.reply_to_message_id or not msg.reply_to_sender_id:
            await ctx.reply("请在群里「回复」居民的那条消息并发送 /ticket。")
            return True
        existing = await ctx.services.db(
            ctx.services.store.question_for_message,
            msg.platform,
            msg.chat.chat_id,
            msg.reply_to_message_id,
        )
        if existing is not None:
            await ctx.reply(f"这条消息已经登记为 {existing.number}。")
            return True
        await open_ticket(
            ctx,
            message_id=msg.reply_to_message_id,
            asker_id=msg.reply_to_sender_id,
            asker_name="",
            text=msg.reply_to_text or "",
        )
        return True
