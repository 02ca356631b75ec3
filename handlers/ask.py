"""有问必答 — a resident's @-mention opens a ticket; the group gets an acknowledgement with the number,
the promised time and who handles it; the officials of the group get it privately with suggestions.

Small talk addressed to the bot (你好, 收到, emoji) gets a friendly word and no ticket. An official can
also promote a resident's message to a ticket by replying to it with ``/ticket`` (立案).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.events import EventKind
from bot.outbox import Delivered, effect
from bot.text import Prediction
from bot.work import Context, FollowUp, StaffContext, Work
from handlers import same_question, scope
from handlers.assignment import choose_assignee
from handlers.common import local_time
from handlers.suggest import offer_suggestions
from storage import QuestionInfo


@dataclass(frozen=True, slots=True)
class NewTicket:
    """A resident's message an official wants to open a ticket for (what ``scope.may_act`` checks)."""

    platform: str
    chat_id: str
    department: str
    assignee_id: int | None = None


GREETING = "您好！我是{name}。有问题请@我并写明具体情况（如地点、时间），我会登记并转给工作人员，{hours}小时内答复。"


async def open_ticket(
    ctx: Context,
    *,
    message_id: str,
    asker_id: str,
    asker_name: str,
    text: str,
    department: Prediction,
) -> QuestionInfo:
    """Open a ticket for a message of this chat, acknowledge it in the chat, alert the officials."""
    msg = ctx.message
    deadline = timedelta(hours=ctx.settings.bot.answer_deadline_hours)
    now = ctx.now
    label = department.label if department.confident else ""
    group = await ctx.db(ctx.store.assignment_candidates, msg.platform, msg.chat.chat_id)
    question = await ctx.db(
        ctx.store.open_question,
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
    officials = await ctx.db(ctx.store.officials_for_group, msg.platform, msg.chat.chat_id)
    handler = (
        f"由{question.assignee_name}负责办理" if question.assignee_name else "已转交工作人员办理"
    )
    # The alerts are queued whatever becomes of the acknowledgement: a lost acknowledgement costs
    # the resident a receipt, a lost alert would cost them an answer.
    ctx.reply(
        f"已收到您的问题，编号 {question.number}。{handler}，"
        f"将于 {local_time(ctx, question.due_at)} 前答复。"
        f"可发送「进度 {question.number}」查询办理情况。",
        reply_to=message_id,
        mention=True,
        what=f"the acknowledgement of {question.number} in chat {msg.chat.chat_id}",
        follow_up=FollowUp("ask.acknowledged", {"question": question.id}),
    )
    targets = [o for o in officials if o.id == question.assignee_id] or [
        o for o in officials if o.role != "supervisor"
    ]
    for official in targets:
        offer_suggestions(ctx, question, official, prefer=msg.platform)
    return question


@effect("ask.acknowledged")
async def acknowledged(work: Work, delivered: Delivered, args: dict[str, Any]) -> None:
    """Remember the acknowledgement's message id (a reply to it finds the question)."""
    if delivered.sent is not None:
        await work.db(work.store.attach_ack, args["question"], delivered.sent.message_id)


def is_question_to_the_bot(ctx: Context) -> bool:
    """A plain message addressed to the bot (no command)."""
    return ctx.message.kind is EventKind.MESSAGE and ctx.addressed and ctx.command is None


async def ask(ctx: Context) -> None:
    """A resident addressing the bot in a group without a command is asking a question."""
    settings = ctx.settings
    greeting = GREETING.format(
        name=settings.bot.name, hours=round(settings.bot.answer_deadline_hours)
    )
    if not ctx.text.strip():
        ctx.reply(greeting)
        return
    analysis = ctx.analysis()
    if analysis.intent.label == "chatter" and analysis.intent.confident:
        ctx.reply(greeting)
        return
    if await same_question.join_open_ticket(ctx):
        return
    msg = ctx.message
    await open_ticket(
        ctx,
        message_id=msg.message_id,
        asker_id=msg.sender.user_id,
        asker_name=msg.sender.display_name,
        text=ctx.text,
        department=analysis.department,
    )


async def promote_to_ticket(ctx: StaffContext) -> None:
    """``/ticket`` (立案) as a reply to a resident's message turns that message into a ticket."""
    msg = ctx.message
    if not msg.chat.is_group or not msg.reply_to_message_id or not msg.reply_to_sender_id:
        ctx.reply("请在群里「回复」居民的那条消息并发送 /ticket。")
        return
    existing = await ctx.db(
        ctx.store.question_for_message, msg.platform, msg.chat.chat_id, msg.reply_to_message_id
    )
    if existing is not None:
        ctx.reply(f"这条消息已经登记为 {existing.number}。")
        return
    text = msg.reply_to_text or ""
    department = ctx.services.text.department(text)
    subject = NewTicket(
        msg.platform, msg.chat.chat_id, department.label if department.confident else ""
    )
    if not await scope.check(ctx, subject, "这条消息"):
        return
    await open_ticket(
        ctx,
        message_id=msg.reply_to_message_id,
        asker_id=msg.reply_to_sender_id,
        asker_name="",
        text=text,
        department=department,
    )
