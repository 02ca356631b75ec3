"""延期 — an official asks for more time (``/extend Q12 3d 原因``), a supervisor decides (``/approve Q12``
to grant, ``/approve Q12 驳回 原因`` to refuse; ``/approve`` alone lists what waits). A granted extension
becomes the deadline (counted on the working-time clock from the old one), the 督办 stages start again
and the resident is told the new time."""

from __future__ import annotations

import re

from bot.text.privacy import mask
from bot.work import StaffContext
from bot.worktime import Span
from handlers import deadlines, scope
from handlers.common import local_time, question_number_arg, tell_official, to_asker
from storage import QuestionState

SPAN = re.compile(r"^(\d{1,3}(?:\.\d)?)\s*(d|h|天|个工作日|工作日|小时|个工作小时)$")
REFUSE_WORDS = ("驳回", "不批准", "拒绝", "否", "refuse", "no")


def parse_span(word: str) -> Span | None:
    """``3d`` · ``3天`` · ``3个工作日`` · ``4h`` · ``4小时`` → working time; anything else → None."""
    match = SPAN.match(word.strip())
    if not match or float(match.group(1)) <= 0:
        return None
    return Span(
        float(match.group(1)), "h" if "h" in match.group(2) or "时" in match.group(2) else "d"
    )


async def extend(ctx: StaffContext) -> None:
    """``/extend Q12 3d 原因`` — ask a supervisor for more working time."""
    assert ctx.command is not None
    args = ctx.command.args
    number = question_number_arg(ctx)
    span = parse_span(args[1]) if len(args) > 1 else None
    if number is None or span is None or len(args) < 3:
        ctx.reply("格式：/extend Q12 3d 延期原因（3d 为3个工作日，4h 为4个工作小时）")
        return
    question = await scope.ticket_in_scope(ctx, number)
    if question is None:
        return
    if question.state not in QuestionState.WAITING:
        ctx.reply(f"{question.number} 不在办理中，无需延期。")
        return
    until = ctx.services.worktime.add(question.due_at, span)
    reason = " ".join(args[2:])
    await ctx.db(
        ctx.store.request_extension,
        question.id,
        official_id=ctx.official.id,
        until=until,
        reason=reason,
        at=ctx.now,
    )
    supervisors = await ctx.db(ctx.store.supervisors)
    for supervisor in supervisors:
        tell_official(
            ctx,
            supervisor,
            f"【延期申请 {question.number}】{ctx.official.name}申请延期{span.label()}至 "
            f"{local_time(ctx, until)}，原因：{mask(reason)}\n问题：{mask(question.text)}\n"
            f"批准请发「/approve {question.number}」，驳回请发「/approve {question.number} 驳回 原因」。",
            prefer=question.platform,
        )
    ctx.reply(
        f"已提交 {question.number} 的延期申请（至 {local_time(ctx, until)}），等待督查人员批准。",
        quote=False,
    )


async def approve(ctx: StaffContext) -> None:
    """``/approve Q12`` · ``/approve Q12 驳回 原因`` · ``/approve`` (what waits)."""
    assert ctx.command is not None
    number = question_number_arg(ctx)
    if number is None:
        waiting = [
            q
            for q in await ctx.db(ctx.store.pending_extensions)
            if await scope.within(ctx, ctx.official, q)  # only what this supervisor oversees
        ]
        if not waiting:
            ctx.reply("目前没有待批准的延期申请。")
            return
        ctx.reply(
            "待批准的延期申请：\n"
            + "\n".join(
                f"{q.number} 延至 {local_time(ctx, q.extension_due_at)}：{mask(q.extension_reason)}"
                for q in waiting
                if q.extension_due_at is not None
            )
        )
        return
    question = await ctx.db(ctx.store.question, number)
    # Scope first: whether a ticket outside one's jurisdiction awaits an extension is not theirs to know.
    if question is not None and not await scope.check(ctx, question, question.number):
        return
    if question is None or question.extension_due_at is None:
        ctx.reply(f"Q{number} 没有待批准的延期申请。")
        return
    args = ctx.command.args[1:]
    asker = (
        await ctx.db(ctx.store.official, question.extension_official_id)
        if question.extension_official_id is not None
        else None
    )
    if args and args[0] in REFUSE_WORDS:
        note = " ".join(args[1:])
        await ctx.db(
            ctx.store.refuse_extension, question.id, by=ctx.official.id, at=ctx.now, note=note
        )
        if asker is not None:
            tell_official(
                ctx,
                asker,
                f"{question.number} 的延期申请未获批准{('：' + note) if note else ''}。"
                f"请在 {local_time(ctx, question.due_at)} 前答复。",
                prefer=question.platform,
            )
        ctx.reply(f"已驳回 {question.number} 的延期申请。", quote=False)
        return
    until, reason = question.extension_due_at, question.extension_reason
    updated = await deadlines.plan(ctx, question.id, start=ctx.now, due_at=until)
    await ctx.db(
        ctx.store.add_step,
        question.id,
        "extension_approved",
        at=ctx.now,
        official_id=ctx.official.id,
        note=f"延至 {local_time(ctx, until)}：{reason}",
    )
    if question.platform in ctx.work.platforms:
        ctx.send(
            to_asker(
                updated,
                f"您的问题 {updated.number} 需要进一步办理（{reason}），"
                f"答复时间延至 {local_time(ctx, until)}，感谢您的耐心。",
            ),
            what=f"the extension notice of {updated.number}",
        )
    if asker is not None:
        tell_official(
            ctx,
            asker,
            f"{updated.number} 的延期已批准，新的期限是 {local_time(ctx, until)}。",
            prefer=updated.platform,
        )
    ctx.reply(f"已批准 {updated.number} 延期至 {local_time(ctx, until)}，已告知居民。", quote=False)
