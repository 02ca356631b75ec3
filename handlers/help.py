"""帮助 — what each role can type (made from the declared routes and the command table), and a hint
for unknown commands."""

from __future__ import annotations

from bot.events import EventKind
from bot.work import Context
from bot.worktime import Span

RESIDENT_INTRO = """您好，我是{name}，可以这样使用：
· 在群里 @{name} 加上您的问题，例如「@{name} 小区电梯坏了什么时候修？」，我会登记编号、{hours}小时内回应，并在办理时限内答复（{limits}）"""


def help_text(ctx: Context) -> str:
    """Help for the sender's role: the commands the routes let that role use."""
    settings = ctx.settings
    name = settings.bot.name
    limits = "，".join(
        f"{kind}类{Span.parse(span).label()}" for kind, span in settings.worktime.limits.items()
    )
    intro = RESIDENT_INTRO.format(
        name=name, hours=round(settings.bot.answer_deadline_hours), limits=limits
    )
    lines = [intro]
    routes = ctx.work.routes
    if routes is None:
        return lines[0]
    everyone, staff, supervisors = routes.usage(ctx.role)
    lines += [f"· {usage.format(name=name)}" for usage in everyone]
    if staff:
        lines += ["", "工作人员命令：", *(f"· {usage}" for usage in staff)]
    if supervisors:
        lines += ["", "督查命令：", *(f"· {usage}" for usage in supervisors)]
    return "\n".join(lines)


async def show_help(ctx: Context) -> None:
    """``help`` / ``start``."""
    ctx.reply(help_text(ctx))


async def unknown_command(ctx: Context) -> None:
    """A slash command nobody declared."""
    assert ctx.command is not None
    ctx.reply(f"没有「/{ctx.command.args[0]}」这个命令。发送 /help 查看可用命令。")


def is_private_talk(ctx: Context) -> bool:
    """A plain message in a private chat."""
    return ctx.message.kind is EventKind.MESSAGE


async def private_fallback(ctx: Context) -> None:
    """Whatever no other route took in a private chat gets the help text."""
    ctx.reply(help_text(ctx))
