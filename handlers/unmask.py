"""原文 — a supervisor or admin reads one ticket as the resident wrote it: ``/unmask Q12``, privately.

Everywhere else residents' personal data reaches supervisors masked (``bot.text.privacy``); this is the
one way to see a ticket unmasked. A supervisor may only open a ticket within their jurisdiction
(``handlers.scope``); every view, and every refusal, is a line in the audit log.
"""

from __future__ import annotations

from bot.work import StaffContext
from handlers import scope
from handlers.common import question_number_arg
from handlers.status import describe
from storage import AuditOutcome

AUDITED_NOTE = "（本次查看已记入审计日志）"


async def unmask(ctx: StaffContext) -> None:
    """``unmask`` (the route admits supervisors and admins, in private chats only)."""
    number = question_number_arg(ctx)
    if number is None:
        ctx.reply("请写明问题编号，例如「/unmask Q12」。")
        return
    question = await scope.ticket_in_scope(ctx, number)
    if question is None:
        return
    ctx.audit.mark(AuditOutcome.UNMASKED)
    who = question.asker_name or question.asker_user_id
    ctx.reply(
        f"【{question.number} 原文】{question.group_title or '私聊'} · {who}：\n{question.text}\n"
        f"{describe(ctx, question)}\n{AUDITED_NOTE}",
        quote=False,
    )
