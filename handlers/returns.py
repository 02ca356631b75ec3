"""退回 — the department a ticket was transferred to sends it back when it is not theirs:
``/return Q12 原因``, within ``[worktime] return_window`` of working time after the transfer (default two
working days). It goes back to whoever transferred it (an official; a supervisor's transfer goes to the
supervisors' queue), the deadline keeps running, and the return is a step of the ticket's history."""

from __future__ import annotations

from bot.text.privacy import mask
from bot.work import StaffContext
from handlers import scope
from handlers.ask import queue_for_supervisors
from handlers.common import local_time, tell_official
from storage import QuestionState


async def return_ticket(ctx: StaffContext) -> None:
    """``return``."""
    found = await scope.ticket_and_reason(ctx, "格式：/return Q12 退回原因")
    if found is None:
        return
    question, reason = found
    if question.transferred_at is None or question.state not in QuestionState.WAITING:
        ctx.reply(f"{question.number} 不是转办给您部门、尚在办理中的问题，不能退回。")
        return
    window = ctx.settings.worktime.return_window
    closes = ctx.services.worktime.span_after(question.transferred_at, window)
    if ctx.now > closes:
        ctx.reply(
            f"{question.number} 已超过退回期限（转办后 {window[:-1]}"
            f"{'个工作日' if window.endswith('d') else '个工作小时'}内，截至 {local_time(ctx, closes)}），"
            "请继续办理或联系督查人员。"
        )
        return
    back = (
        await ctx.db(ctx.store.official, question.transferred_by_id)
        if question.transferred_by_id is not None
        else None
    )
    to_official = back is not None and back.role == "official"
    updated = await ctx.db(
        ctx.store.return_ticket,
        question.id,
        by_official_id=ctx.official.id,
        assignee_id=back.id if to_official and back else None,
        department=back.department if to_official and back else question.department,
        at=ctx.now,
        reason=reason,
    )
    if to_official and back is not None:
        tell_official(
            ctx,
            back,
            f"【退回 {updated.number}】{ctx.official.name}（{ctx.official.department or '—'}）退回："
            f"{reason}\n问题：{mask(updated.text)}\n期限不变：{local_time(ctx, updated.due_at)}。"
            f"请答复或改转其他部门（/transfer {updated.number} 部门）。",
            prefer=updated.platform,
        )
        who = back.name
    else:
        await queue_for_supervisors(ctx, updated)
        who = "督查人员"
    ctx.reply(f"已将 {updated.number} 退回{who}。", quote=False)
