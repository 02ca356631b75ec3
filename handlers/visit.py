"""走访 and 回访 — 网上网下结合: an official records an offline visit or call on a ticket
(``/visit Q12 内容``, engagement ``visit``, credited to them); when an answer goes unrated for
``[worktime] revisit_after`` of working time, the official who answered is asked to 回访, and the result
(``/visit Q12 满意 …``) counts as the resident's rating with its source marked ``visit``."""

from __future__ import annotations

from datetime import datetime

from bot.commands import parse_rating
from bot.work import Context, StaffContext, Work
from handlers import deadlines, scope
from handlers.common import (
    RATING_LABELS,
    local_time,
    question_number_arg,
    tell_official,
    work_of,
)
from handlers.rating_rules import outcome
from storage import QuestionInfo, QuestionState


async def visit(ctx: StaffContext) -> None:
    """``/visit Q12 内容`` · ``/visit Q12 满意 内容`` (a 回访's result: the rating)."""
    assert ctx.command is not None
    number = question_number_arg(ctx)
    args = ctx.command.args
    if number is None or len(args) < 2:
        ctx.reply("格式：/visit Q12 走访或电话的情况；回访结果：/visit Q12 满意 说明")
        return
    question = await scope.ticket_in_scope(ctx, number)
    if question is None:
        return
    note = ctx.command.rest.split(None, 1)[1]
    score = parse_rating(args[1])
    await ctx.db(
        ctx.store.record_visit, question.id, official_id=ctx.official.id, at=ctx.now, note=note
    )
    if score is None:
        ctx.reply(f"已记录 {question.number} 的走访情况。", quote=False)
        return
    if question.answered_at is None:
        ctx.reply(
            f"已记录走访。{question.number} 还没有答复，回访评价请在答复后登记。", quote=False
        )
        return
    state, transition_note = outcome(score)
    await ctx.db(
        ctx.store.record_rating,
        question.id,
        platform=question.platform,
        user_id=question.asker_user_id,
        score=score,
        at=ctx.now,
        source="visit",
    )
    updated = await ctx.db(
        ctx.store.transition,
        question.id,
        state,
        at=ctx.now,
        by=(ctx.message.platform, ctx.message.sender.user_id),
        note=f"回访：{transition_note}",
    )
    if updated.state == QuestionState.REOPENED:
        updated = await deadlines.restart(ctx, updated)
        ctx.reply(
            f"已记录回访评价（{RATING_LABELS[score]}），{updated.number} 已重新打开，"
            f"新的期限 {local_time(ctx, updated.due_at)}。",
            quote=False,
        )
        return
    ctx.reply(f"已记录回访评价（{RATING_LABELS[score]}），{updated.number} 已办结。", quote=False)


async def plan_revisit(at: Context | Work, question_id: int, answered_at: datetime) -> None:
    """An answer just recorded brings a 回访 reminder after ``[worktime] revisit_after`` unrated."""
    work = work_of(at)
    moment = work.services.worktime.span_after(answered_at, work.settings.worktime.revisit_after)
    await work.db(work.store.plan_revisit, question_id, at=moment)


async def remind_revisits(work: Work) -> list[QuestionInfo]:
    """Ask the official who answered to 回访 every answer still unrated at its 回访 time; once each."""
    due = await work.db(work.store.claim_revisits, work.now)
    for question in due:
        who = question.answered_by_id or question.assignee_id
        official = await work.db(work.store.official, who) if who is not None else None
        if official is None:
            continue
        tell_official(
            work,
            official,
            f"【回访提醒 {question.number}】{local_time(work, question.answered_at or work.now)} "
            f"答复后居民尚未评价，请电话或上门回访，并登记结果："
            f"「/visit {question.number} 满意 / 基本满意 / 不满意 说明」。",
            prefer=question.platform,
        )
    return due
