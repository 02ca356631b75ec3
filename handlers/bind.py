"""绑定 — an official links a platform account with a one-time code: ``/bind CODE`` in a private chat.

Codes come from ``minyi officials invite NAME``; wrong, used or expired codes are refused.
"""

from __future__ import annotations

from bot.work import Context
from handlers.store_messages import explain
from storage import StoreError

IN_GROUP = "为保护绑定码，请私聊机器人发送「/bind 绑定码」。"


async def bind(ctx: Context) -> None:
    """``bind`` (the route admits private chats only)."""
    msg = ctx.message
    assert ctx.command is not None
    if not ctx.command.args:
        ctx.reply("请发送「/bind 绑定码」，绑定码向管理员索取。")
        return
    try:
        official = await ctx.db(
            ctx.store.redeem_invite,
            ctx.command.args[0],
            msg.platform,
            msg.sender.user_id,
            msg.sender.display_name,
            ctx.now,
        )
    except StoreError as exc:
        ctx.reply(explain(exc))
        return
    ctx.reply(
        f"绑定成功！{official.name}（{official.department or '未设部门'}），"
        "此后本账号收到的新问题会私信提醒您。发送 /help 查看工作命令。"
    )
