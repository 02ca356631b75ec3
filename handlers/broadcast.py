"""群发 — a supervisor announces to every group of their jurisdiction (an admin: every group).

``/broadcast 内容`` posts now, each group its own send (``handlers.speak.announce``), and reports where
it arrived; ``/broadcast 明天 9点 内容`` schedules it (``handlers.schedule.later``). The groups are the
jurisdiction's (``handlers.scope.jurisdiction_groups``), checked again when a scheduled one fires.
"""

from __future__ import annotations

from bot.outbox import message_args
from bot.work import StaffContext
from handlers import schedule
from handlers.scope import jurisdiction_groups
from handlers.speak import announce, speak_outcome
from storage import JobKind

USAGE = (
    "请写明群发内容，例如「/broadcast 本周六上午社区义诊」或「/broadcast 明天 9点 内容」（定时）。"
)


async def broadcast(ctx: StaffContext) -> None:
    """``broadcast`` (群发) — supervisors and admins (the route says so), privately."""
    assert ctx.command is not None
    text = ctx.command.rest.strip()
    if not text:
        ctx.reply(USAGE, quote=False)
        return
    groups = await jurisdiction_groups(ctx, ctx.official)
    if not groups:
        ctx.reply("您的辖区里还没有群，无法群发。", quote=False)
        return
    if await schedule.later(ctx, JobKind.BROADCAST, groups, text):
        return
    report = message_args(ctx.reply_message("", quote=False))
    if not announce(ctx.work, ctx.official, groups, text, report, always_report=True):
        ctx.reply(speak_outcome([], [], []), quote=False)
