"""发声 — an official posts an announcement to one of their groups or to all of them.

``/speak 内容`` goes to every group the official answers for (sent inside a group: to that group;
``/speak 全部 内容`` to all of them from anywhere); ``/speak #群名 内容`` to one (matched by title or chat
id). Each group's posting is its own send: a group the announcement could not reach does not stop the
others. Each posting that arrived is engagement ``speak``; once every group's fate is known the official
is told which groups it reached (follow-up ``speak.posted``).
"""

from __future__ import annotations

import json
from typing import Any

from bot.events import OutgoingMessage
from bot.outbox import Delivered, Delivery, effect, message_args, message_from_args
from bot.work import FollowUp, StaffContext, Work
from handlers.common import signature
from storage import EngagementKind, GroupInfo

ALL_GROUPS = ("全部", "所有", "所有群", "全部群", "全体", "全體")
"""A first word that names every group the official answers for (``/speak 全部 明天停水``)."""
FOLLOW_UP = "speak.posted"


def pick_groups(groups: list[GroupInfo], target: str) -> list[GroupInfo]:
    """Groups whose title or chat id equals ``target`` (or contains it, when nothing is equal)."""
    exact = [g for g in groups if target in (g.title, g.chat_id)]
    return exact or [g for g in groups if target and target in g.title]


async def speak(ctx: StaffContext) -> None:
    """``speak`` — announcements."""
    assert ctx.command is not None
    official = ctx.official
    text = ctx.command.rest
    groups = await ctx.db(ctx.store.groups_of, official.id)
    first, _, remainder = text.partition(" ")
    if first.lstrip("#＃") in ALL_GROUPS:
        text = remainder
    elif text.startswith(("#", "＃")):
        target, _, text = text[1:].partition(" ")
        chosen = pick_groups(groups, target.strip())
        if not chosen:
            names = "、".join(g.title or g.chat_id for g in groups) or "（无）"
            ctx.reply(f"您负责的群里没有「{target}」。您负责的群：{names}。")
            return
        groups = chosen
    elif ctx.message.chat.is_group:
        # Speaking inside a group means that group.
        groups = [g for g in groups if g.chat_id == ctx.message.chat.chat_id] or groups
    text = text.strip()
    if not text:
        ctx.reply("请写明发布内容，例如「/speak #幸福里 明天上午停水」。")
        return
    if not groups:
        ctx.reply("您还没有负责的群，无法发布。")
        return
    reachable = [g for g in groups if g.platform in ctx.work.platforms]
    report = message_args(ctx.reply_message("", quote=False))
    for group in reachable:
        ctx.send(
            OutgoingMessage(
                platform=group.platform,
                chat_id=group.chat_id,
                text=f"【公告】{text}\n{signature(official)}",
            ),
            what=f"announcement to {group.title or group.chat_id}",
            follow_up=FollowUp(
                FOLLOW_UP,
                {
                    "official": official.id,
                    "group": group.title or group.chat_id,
                    "platform": group.platform,
                    "chat_id": group.chat_id,
                    "text": text,
                    "report": report,
                    "always_report": ctx.message.is_private,
                },
            ),
        )
    if not reachable and ctx.message.is_private:
        ctx.reply(speak_outcome([], [], []), quote=False)


@effect(FOLLOW_UP)
async def posted(work: Work, delivered: Delivered, args: dict[str, Any]) -> None:
    """Count an announcement that arrived; when it was the last of its batch, report to the official."""
    if delivered.ok:
        await work.db(
            work.store.record_engagement,
            args["official"],
            EngagementKind.SPEAK,
            work.now,
            platform=args["platform"],
            chat_id=args["chat_id"],
            detail=args["text"],
        )
    if work.event_id is None:
        return
    batch = await work.db(work.store.sends_of, work.event_id, FollowUp.prefix(FOLLOW_UP))
    if any(row.state in ("pending", "sending") for row in batch):
        return  # not the last one
    outcome: dict[str, list[str]] = {state.value: [] for state in Delivery}
    for row in batch:
        group = json.loads(row.follow_up)["args"]["group"]
        outcome.setdefault(row.state, []).append(group)
    sent, unconfirmed, failed = outcome["sent"], outcome["uncertain"], outcome["failed"]
    if args["always_report"] or len(sent) > 1 or unconfirmed or failed:
        report = message_from_args(
            {**args["report"], "text": speak_outcome(sent, unconfirmed, failed)}
        )
        work.send(report, what="the announcement report")


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
