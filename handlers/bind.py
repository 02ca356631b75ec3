"""绑定 — an official links a platform account with a one-time code: ``/bind CODE`` in a private chat.

Codes come from ``minyi officials invite NAME`` and expire after ``[security] bind_code_hours``. A code
typed anywhere but a private chat is revoked at once (others may have read it). Wrong codes count
against the account: after ``[security] bind_attempts`` failures within ``bind_window_minutes`` further
attempts are refused without looking at the code. Every attempt is a line in the audit log (the code
itself never is); the failures counted are those lines.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config import Settings
from bot.work import Context
from handlers.store_messages import explain
from storage import AuditOutcome, Store, StoreError

IN_GROUP = (
    "为保护绑定码，请私聊机器人发送「/bind 绑定码」。在群里发过的绑定码已作废，请向管理员重新获取。"
)
THROTTLED = "绑定码错误次数过多，请 {minutes} 分钟后再试，或联系管理员。"
ACTION = "bind"
"""The audit log's name for bind attempts (the throttle counts its failures)."""


def create_code(store: Store, settings: Settings, official_name: str, now: datetime) -> str:
    """A new one-time code for ``official_name``, valid for ``[security] bind_code_hours``."""
    hours = settings.security.bind_code_hours
    return store.create_invite(official_name, now, timedelta(hours=hours))


def is_bind(ctx: Context) -> bool:
    """The ``bind`` command, wherever it was typed."""
    return ctx.command is not None and ctx.command.name == ACTION


async def guard_code(ctx: Context) -> None:
    """Observer of every ``bind``: the code is never written to the audit log, and a code typed
    anywhere but a private chat is revoked before the route refuses the chat (``IN_GROUP``)."""
    assert ctx.command is not None
    code = ctx.command.args[0] if ctx.command.args else ""
    ctx.audit.detail = "/bind " + "*" * len(code) if code else "/bind"
    if code and ctx.message.chat.is_group:
        await ctx.db(ctx.store.revoke_invite, code, ctx.now)


async def bind(ctx: Context) -> None:
    """``bind`` (the route admits private chats only): redeem the code, unless the account has
    tried too many wrong ones lately."""
    msg = ctx.message
    assert ctx.command is not None
    code = ctx.command.args[0] if ctx.command.args else ""
    if not code:
        ctx.reply("请发送「/bind 绑定码」，绑定码向管理员索取。")
        return
    security = ctx.settings.security
    window = timedelta(minutes=security.bind_window_minutes)
    failures = await ctx.db(
        ctx.store.audit_count,
        f"{msg.platform}:{msg.sender.user_id}",
        ACTION,
        (AuditOutcome.FAILED,),
        ctx.now - window,
    )
    if failures >= security.bind_attempts:
        ctx.audit.refuse("too many wrong codes")
        ctx.reply(THROTTLED.format(minutes=security.bind_window_minutes))
        return
    try:
        official = await ctx.db(
            ctx.store.redeem_invite,
            code,
            msg.platform,
            msg.sender.user_id,
            msg.sender.display_name,
            ctx.now,
        )
    except StoreError as exc:
        ctx.audit.fail(str(exc.code))
        ctx.reply(explain(exc))
        return
    ctx.audit.mark(AuditOutcome.DONE, f"bound to {official.name}")
    ctx.reply(
        f"绑定成功！{official.name}（{official.department or '未设部门'}），"
        "此后本账号收到的新问题会私信提醒您。发送 /help 查看工作命令。"
    )
