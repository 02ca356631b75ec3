"""有问必答 — a resident's @-mention opens a ticket; the group gets an acknowledgement with the number,
the promised time and who handles it; the officials of the group get it privately with suggestions.

Small talk addressed to the bot (你好, 收到, emoji) gets a friendly word and no ticket. An official can
also promote a resident's message to a ticket by replying to it with ``/ticket`` (立案).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.events import EventKind
from bot.outbox import Delivered, effect
from bot.text import Prediction
from bot.text.hot_topics import question_phrases
from bot.text.privacy import mask
from bot.work import Context, FollowUp, StaffContext, Work
from handlers import deadlines, same_question, scope
from handlers.assignment import choose_assignee, choose_department_assignee
from handlers.common import local_time, tell_official
from handlers.suggest import offer_suggestions
from storage import QuestionInfo


@dataclass(frozen=True, slots=True)
class NewTicket:
    """A resident's message an official wants to open a ticket for (what ``scope.may_act`` checks)."""

    platform: str
    chat_id: str
    department: str
    assignee_id: int | None = None


TICKET_USAGE = "请在群里「回复」居民的那条消息并发送 /ticket。"
GREETING = (
    "您好！我是{name}。有问题请@我并写明具体情况（如地点、时间），我会登记并转给工作人员，"
    "{hours}小时内回应，并在办理时限内答复。"
)


async def open_ticket(
    ctx: Context,
    *,
    message_id: str,
    asker_id: str,
    asker_name: str,
    text: str,
    department: Prediction,
    intent: str,
    prefer_assignee: int | None = None,
) -> QuestionInfo:
    """Open a ticket for a message of this chat, due after the time limit of its kind (``intent``) and
    department on the working-time clock; acknowledge it in the chat, alert the officials.
    ``prefer_assignee``: who takes it when the chat has no official (an official's ``/case``)."""
    msg = ctx.message
    now = ctx.now
    label = department.label if department.confident else ""
    limit = ctx.services.worktime.limit(intent, label, text)
    group = await ctx.db(ctx.store.assignment_candidates, msg.platform, msg.chat.chat_id)
    assignee_id = choose_assignee(group, label) or prefer_assignee
    if assignee_id is None and label:
        # A group nobody serves: the question's department takes it.
        members = await ctx.db(ctx.store.department_members, label)
        assignee_id = choose_department_assignee(members)
    # The assignee's record (the alert's address) is read first: its name goes in the ticket's
    # record without a second lookup.
    assignee = await ctx.db(ctx.store.official, assignee_id) if assignee_id is not None else None
    # The deadline and its 督办 stages go in with the ticket (one INSERT, not an UPDATE after it).
    planned = deadlines.stages(ctx, start=now, limit=limit)
    stored = ctx.stored
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
        assignee_id=assignee_id,
        phrases=question_phrases(text),
        assignee_name=assignee.name if assignee is not None else None,
        message_row_id=stored.id if stored and stored.platform_message_id == message_id else None,
        **planned._asdict(),
    )
    handler = (
        f"由{question.assignee_name}负责办理"
        if question.assignee_name
        else "暂无承办人，已交督查人员分派"
    )
    # The alerts are queued whatever becomes of the acknowledgement: a lost acknowledgement costs
    # the resident a receipt, a lost alert would cost them an answer.
    ctx.reply(
        f"已收到您的问题，编号 {question.number}。{handler}，"
        f"办理时限：{limit.label()}，将于 {local_time(ctx, question.due_at)} 前答复。"
        f"可发送「进度 {question.number}」查询办理情况。",
        reply_to=message_id,
        mention=True,
        what=f"the acknowledgement of {question.number} in chat {msg.chat.chat_id}",
        follow_up=FollowUp("ask.acknowledged", {"question": question.id}),
    )
    if question.assignee_id is None:
        await queue_for_supervisors(ctx, question)
        return question
    if assignee is not None:
        offer_suggestions(ctx, question, assignee, prefer=msg.platform)
    return question


async def queue_for_supervisors(ctx: Context, question: QuestionInfo) -> None:
    """The supervisors' queue: a question nobody can be given is never left with nobody — every
    supervisor hears of it (masked) and hands it on with ``/transfer``."""
    await ctx.db(
        ctx.store.add_step,
        question.id,
        "queued",
        at=ctx.now,
        official_id=None,
        note="无承办人，交督查人员分派",
    )
    for supervisor in await ctx.db(ctx.store.supervisors):
        tell_official(
            ctx,
            supervisor,
            f"【待分派 {question.number}】{question.group_title or '私聊'}：{mask(question.text)}\n"
            f"该群无承办人，部门{'「' + question.department + '」' if question.department else '未识别'}"
            f"也无人承办。请发送「/transfer {question.number} 部门」分派。",
            prefer=question.platform,
        )


@effect("ask.acknowledged")
async def acknowledged(work: Work, delivered: Delivered, args: dict[str, Any]) -> None:
    """Remember the acknowledgement's message id (a reply to it finds the question) and that the
    resident was acknowledged (the ticket's history)."""
    if delivered.sent is not None:
        await work.db(work.store.attach_ack, args["question"], delivered.sent.message_id)
        await work.db(
            work.store.add_step, args["question"], "acknowledged", at=work.now, official_id=None
        )


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
        intent=analysis.intent.label,
    )


async def promote_to_ticket(ctx: StaffContext) -> None:
    """``/ticket`` (立案) as a reply to a resident's message turns that message into a ticket."""
    msg = ctx.message
    if not msg.chat.is_group or not msg.reply_to_message_id or not msg.reply_to_sender_id:
        ctx.reply(TICKET_USAGE)
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
        intent=ctx.services.text.intent(text).label,
    )
