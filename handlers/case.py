"""登记 and 关闭 — an official brings a case collected offline (a visit, a phone call, a letter) into the
same loop with its own number (``/case 内容``), and staff close a ticket with the reason kept
(``/close Q12 原因``)."""

from __future__ import annotations

from bot.work import StaffContext
from handlers import scope
from handlers.ask import open_ticket
from handlers.common import to_asker
from storage import QuestionState

OFFLINE_ASKER = "offline"
IN_GROUP = "请私聊我发送 /case 登记线下收集的诉求（群里登记会公开居民的信息）。"


async def register_case(ctx: StaffContext) -> None:
    """``/case 内容`` — a ticket for a case collected offline, handled by the registering official
    (who may ``/transfer`` it); its answers go to their private chat, to pass on offline."""
    assert ctx.command is not None
    text = ctx.command.rest.strip()
    if len(text) < 4:
        ctx.reply("格式：/case 案件内容（如：6号楼李阿姨来电，反映楼道灯坏了）")
        return
    services = ctx.services
    department = services.text.department(text)
    question = await open_ticket(
        ctx,
        message_id=ctx.message.message_id,
        asker_id=f"{OFFLINE_ASKER}-{ctx.official.id}",
        asker_name="线下登记",
        text=text,
        department=department,
        intent=services.text.intent(text).label,
        prefer_assignee=ctx.official.id,
    )
    await ctx.db(
        ctx.store.add_step,
        question.id,
        "case",
        at=ctx.now,
        official_id=ctx.official.id,
        note="线下收集，登记入办理流程",
    )


async def close(ctx: StaffContext) -> None:
    """``/close Q12 原因``."""
    found = await scope.ticket_and_reason(
        ctx, "格式：/close Q12 关闭原因（如：重复提问，已在 Q8 答复）"
    )
    if found is None:
        return
    question, reason = found
    if question.state == QuestionState.CLOSED:
        ctx.reply(f"{question.number} 已经关闭。")
        return
    by = (ctx.message.platform, ctx.message.sender.user_id)
    updated = await ctx.db(
        ctx.store.transition, question.id, QuestionState.CLOSED, at=ctx.now, by=by, note=reason
    )
    if updated.group_id is not None and updated.platform in ctx.work.platforms:
        ctx.send(
            to_asker(
                updated, f"您的问题 {updated.number} 已关闭：{reason}。如有疑问可再次@我提问。"
            ),
            what=f"the closing notice of {updated.number}",
        )
    ctx.reply(f"已关闭 {updated.number}（{reason}）。", quote=False)
