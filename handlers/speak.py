"""发声 — an official posts an announcement to one of their groups or to all of them.

``/speak 内容`` goes to every group the official answers for (sent inside a group: to that group;
``/speak 全部 内容`` to all of them from anywhere); ``/speak #群名 内容`` to one (matched by title or chat
id). Each posting is engagement ``speak``; a group the announcement could not reach does not stop the
others, and the official is told which groups it reached.
"""

from __future__ import annotations

from bot.dispatch import Context
from bot.events import OutgoingMessage
from handlers.common import STAFF, Delivery, require, send_or_log
from storage import EngagementKind, GroupInfo

ALL_GROUPS = ("全部", "所有", "所有群", "全部群", "全体", "全體")
"""A first word that names every group the official answers for (``/speak 全部 明天停水``)."""


def pick_groups(groups: list[GroupInfo], target: str) -> list[GroupInfo]:
    """Groups whose title or chat id equals ``target`` (or contains it, when nothing is equal)."""
    exact = [g for g in groups if target in (g.title, g.chat_id)]
    return exact or [g for g in groups if target and target in g.title]


class SpeakHandler:
    """``speak`` — announcements."""

    async def __call__(self, ctx: Context) -> bool:
        if ctx.command is None or ctx.command.name != "speak":
            return False
        if not await require(ctx, STAFF):
            return True
        official = ctx.official
        assert official is not None
        text = ctx.command.rest
        groups = await ctx.services.db(ctx.services.store.groups_of, official.id)
        first, _, remainder = text.partition(" ")
        if first.lstrip("#＃") in ALL_GROUPS:
            text = remainder
        elif text.startswith(("#", "＃")):
            target, _, text = text[1:].partition(" ")
            chosen = pick_groups(groups, target.strip())
            if not chosen:
                names = "、".join(g.title or g.chat_id for g in groups) or "（无）"
                await ctx.reply(f"您负责的群里没有「{target}」。您负责的群：{names}。")
                return True
            groups = chosen
        elif ctx.message.chat.is_group:
            # Speaking inside a group means that group.
            groups = [g for g in groups if g.chat_id == ctx.message.chat.chat_id] or groups
        text = text.strip()
        if not text:
            await ctx.reply("请写明发布内容，例如「/speak #幸福里 明天上午停水」。")
            return True
        if not groups:
            await ctx.reply("您还没有负责的群，无法发布。")
            return True
        signature = f"——{official.name}" + (
            f"（{official.department}）" if official.department else ""
        )
        posted: list[str] = []
        unconfirmed: list[str] = []
        failed: list[str] = []
        for group in groups:
            if group.platform not in ctx.dispatcher.platforms:
                continue
            name = group.title or group.chat_id
            # One unreachable group must not keep the announcement from the others.
            delivery, _ = await send_or_log(
                f"announcement to {name}",
                ctx.send(
                    OutgoingMessage(
                        platform=group.platform,
                        chat_id=group.chat_id,
                        text=f"【公告】{text}\n{signature}",
                    )
                ),
            )
            if delivery is not Delivery.SENT:
                (unconfirmed if delivery is Delivery.UNCERTAIN else failed).append(name)
                continue
            await ctx.services.db(
                ctx.services.store.record_engagement,
                official.id,
                EngagementKind.SPEAK,
                ctx.now,
                platform=group.platform,
                chat_id=group.chat_id,
                detail=text,
            )
            posted.append(name)
        if ctx.message.is_private or len(posted) > 1 or unconfirmed or failed:
            await ctx.reply(speak_outcome(posted, unconfirmed, failed), quote=False)
        return True


def speak_outcome(posted: list[str], unconfirmed: list[str], failed: list[str]) -> str:
    """What the official is told: where the announcement went, and where it may not have."""
    lines = [f"已发布到 {len(posted)} 个群：{'、'.join(posted) or '（无）'}。"]
    if unconfirmed:
        lines.append(
            f"未收到平台确认（可能未发出，请到群里查看，未出现的请用「/speak #群名 内容」单独重发）："
            f"{'、'.join(unconfirmed)}。"
        )
    if failed:
        lines.append(f"未能发布（已记录，请稍后单独重发）：{'、'.join(failed)}。")
    return "\n".join(lines)
