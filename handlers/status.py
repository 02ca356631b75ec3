"""Residents (and officials) ask where a question stands: ``/status Q12`` or ``@政务助手 进度 Q12``.

Without a number a resident sees their own latest questions. Residents only see questions they asked
or that were asked in the same chat; staff see the questions they may act on (``handlers.scope``). In a group only the asker's own ticket is
answered there (``about_others`` decides; the route declares it): anything else is answered privately.
"""

from __future__ import annotations

from bot.work import Context
from handlers import scope
from handlers.common import STATE_LABELS, local_time, question_number_arg
from storage import QuestionInfo


def describe(ctx: Context, question: QuestionInfo) -> str:
    """One question's state in a sentence or two."""
    parts = [f"{question.number}：{STATE_LABELS.get(question.state, question.state)}"]
    if question.assignee_name:
        parts.append(f"承办人 {question.assignee_name}")
    if question.department:
        parts.append(f"部门 {question.department}")
    if question.answered_at is not None:
        parts.append(f"{local_time(ctx, question.answered_at)} 已答复")
    elif question.is_overdue(ctx.now):
        parts.append(f"已超过承诺时间（{local_time(ctx, question.due_at)}），正在督办")
    else:
        parts.append(f"将于 {local_time(ctx, question.due_at)} 前答复")
    return "，".join(parts) + "。"


async def about_others(ctx: Context) -> bool:
    """True when the answer would be about more than the sender's own ticket: a question that is not
    theirs, or any use by staff ("not found" tells nothing). Without a number residents see only their
    own questions."""
    number = question_number_arg(ctx)
    if ctx.is_staff:
        return True
    if number is None:
        return False
    question = await ctx.db(ctx.store.question, number)
    sender = ctx.message
    return question is not None and (question.platform, question.asker_user_id) != (
        sender.platform,
        sender.sender.user_id,
    )


async def status(ctx: Context) -> None:
    """``status`` — where is my question?"""
    msg = ctx.message
    number = question_number_arg(ctx)
    if number is None:
        if ctx.command is not None and ctx.command.args:
            ctx.reply("请写明问题编号，例如「进度 Q12」。")
            return
        mine = await ctx.db(ctx.store.questions_of_asker, msg.platform, msg.sender.user_id)
        if not mine:
            ctx.reply("您还没有提过问题。在群里@我并写下问题即可登记。")
        else:
            ctx.reply("\n".join(describe(ctx, q) for q in mine))
        return
    question = await ctx.db(ctx.store.question, number)
    if question is not None and ctx.official is not None:
        ctx.audit.subject = question.number
        visible = await scope.within(ctx, ctx.official, question)
        if not visible:
            ctx.audit.refuse("out of scope")
    else:
        visible = question is not None and (
            question.chat_id == msg.chat.chat_id or question.asker_user_id == msg.sender.user_id
        )
    if question is None or not visible:
        # Out of scope reads as unknown: a number tells nothing about tickets one may not see.
        ctx.reply(f"没有找到问题 Q{number}，请核对编号。")
        return
    ctx.reply(describe(ctx, question))
