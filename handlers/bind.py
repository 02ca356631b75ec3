"""绑定 — an official links a platform account with a one-time code: ``/bind CODE`` in a private chat.

Codes come from ``minyi officials invite NAME``; wrong, used or expired codes are refused.
"""

from __future__ import annotations

from bot.dispatch import Context
from handlers.store_messages import explain
from storage import StoreError


class BindHandler:
    """``bind``."""

    async def __call__(self, ctx: Context) -> bool:
        if ctx.command is None or ctx.command.name != "bind":
            return False
        msg = ctx.message
        if not msg.is_private:
            await ctx.reply("为保护绑定码，请私聊机器人发送「/bind 绑定码」。")
            return True
        if not ctx.command.args:
            await ctx.reply("请发送「/bind 绑定码」，绑定码向管理员索取。")
            return True
        try:
            official = await ctx.services.db(
                ctx.services.store.redeem_invite,
                ctx.command.args[0],
                msg.platform,
                msg.sender.user_id,
                msg.sender.display_name,
                ctx.now,
            )
        except StoreError as exc:
            await ctx.reply(explain(exc))
            return True
        await ctx.reply(
            f"绑定成功！{official.name}（{official.department or '未设部门'}），"
            "此后本账号收到的新问题会私信提醒您。发送 /help 查看工作命令。"
        )
        return True
