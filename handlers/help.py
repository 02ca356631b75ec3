"""帮助 — what each role can type, and a hint for unknown commands."""

from __future__ import annotations

from bot.dispatch import Context, Role
from bot.events import EventKind

RESIDENT_HELP = """您好，我是{name}，可以这样使用：
· 在群里 @{name} 加上您的问题，例如「@{name} 小区电梯坏了什么时候修？」，我会登记编号并在{hours}小时内答复
· 查询进度：「@{name} 进度 Q12」或 /status Q12
· 评价答复：点按钮，或回复「满意 / 基本满意 / 不满意」"""

OFFICIAL_HELP = """
工作人员命令：
· /suggest Q12（推荐）— 获取推荐答复
· /reply Q12 2（回复）— 发布第2条推荐；/reply Q12 答复内容 — 自行答复；私聊中直接回复数字也可
· 在群里「回复」居民的提问消息，也算作答复
· /transfer Q12 部门（转办）— 转交其他部门
· /ticket（立案）— 回复一条居民消息，将其登记为问题
· /speak 内容（发声）— 私聊中发到您负责的所有群，群里发到本群；/speak 全部 内容 — 发到所有群；/speak #群名 内容 — 发到指定群
· /digest（潜水）— 查看负责群的最新动态
· /bind 绑定码（绑定）— 绑定本平台账号"""

SUPERVISOR_HELP = """
督查命令：
· /summary today|7d|30d（统计）— 履职统计：响应率、解决率、满意率、首次响应时间、超时问题"""


def help_text(ctx: Context) -> str:
    """Help for the sender's role."""
    settings = ctx.services.settings
    text = RESIDENT_HELP.format(
        name=settings.bot.name, hours=round(settings.bot.answer_deadline_hours)
    )
    if ctx.is_staff:
        text += OFFICIAL_HELP
    if ctx.role in (Role.SUPERVISOR, Role.ADMIN):
        text += SUPERVISOR_HELP
    return text


class HelpHandler:
    """``help``/``start`` and unknown commands."""

    async def __call__(self, ctx: Context) -> bool:
        command = ctx.command
        if command is None:
            return False
        if command.name in ("help", "start"):
            await ctx.reply(help_text(ctx))
            return True
        if command.name == "unknown":
            await ctx.reply(f"没有「/{command.args[0]}」这个命令。发送 /help 查看可用命令。")
            return True
        return False


class PrivateFallbackHandler:
    """Whatever reaches the end of the chain in a private chat gets the help text."""

    async def __call__(self, ctx: Context) -> bool:
        if ctx.message.is_private and ctx.message.kind is EventKind.MESSAGE:
            await ctx.reply(help_text(ctx))
            return True
        return False
