"""发声 — an official posts an announcement to one of their groups or to all of them.

``/speak 内容`` goes to every group the official answers for (sent inside a group: to that group;
``/speak 全部 内容`` to all of them from anywhere); ``/speak #群名 内容`` to one (matched by title or chat
id). Each group's posting is its own send: a group the announcement could not reach does not stop the
others. A time first (``/speak 明天 9点 内容``, ``/speak #群名 12月5日 09:00 内容``) schedules it instead
(handlers/schedule.py); the scheduler posts it then through ``announce``. Each posting that arrived is engagement ``speak``; once every group's fate is known the official
is told which groups it reached (follow-up ``speak.posted``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bot.events import OutgoingMessage
from bot.outbox import Delivered, Delivery, effect, message_args, message_from_args
from bot.work import FollowUp, StaffContext, Work
from handlers import schedule
from handlers.common import signature
from storage import EngagementKind, GroupInfo, OfficialInfo
from storage.schedule import JobKind

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
    # 「/speak 明天 9点 内容」: a time first schedules the announcement (handlers/schedule.py).
    if await schedule.later(ctx, JobKind.ANNOUNCE, groups, text):
        return
    report = message_args(ctx.reply_message("", quote=False))
    private = ctx.message.is_private
    if not announce(ctx.work, official, groups, text, report, always_report=private) and private:
        ctx.reply(speak_outcome([], [], []), quote=False)


def announce(
    work: Work,
    official: OfficialInfo,
    groups: Sequence[GroupInfo | tuple[str, str, str]],
    text: str,
    report: dict[str, Any],
    *,
    always_report: bool,
    job: int | None = None,
) -> bool:
    """Queue ``text`` as an announcement to each of ``groups`` it can reach (each its own send, so
    one group that cannot be reached does not stop the others); the official hears the outcome by
    ``report`` (a message's args) once every group's fate is known. ``job``: the scheduled job it
    fires, whose sends belong to no event. False when no group could be reached."""
    reachable = [_target(g) for g in groups]
    reachable = [g for g in reachable if g[0] in work.platforms]
    for platform, chat_id, title in reachable:
        work.send(
            OutgoingMessage(
                platform=platform, chat_id=chat_id, text=f"【公告】{text}\n{signature(official)}"
            ),
            what=f"announcement to {title or chat_id}",
            follow_up=FollowUp(
                FOLLOW_UP,
                # ``job`` first: ``FollowUp.prefix(FOLLOW_UP, job=…)`` finds the job's batch.
                ({"job": job} if job is not None else {})
                | {
                    "official": official.id,
                    "group": title or chat_id,
                    "platform": platform,
                    "chat_id": chat_id,
                    "text": text,
                    "report": report,
                    "always_report": always_report,
                },
            ),
        )
    return bool(reachable)


def _target(group: GroupInfo | tuple[str, str, str]) -> tuple[str, str, str]:
    if isinstance(group, tuple):
        return group
    return group.platform, group.chat_id, group.title


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
    job = args.get("job")
    if work.event_id is None and job is None:
        return
    # A scheduled announcement's sends belong to no event: its job number finds them.
    prefix = FollowUp.prefix(FOLLOW_UP) if job is None else FollowUp.prefix(FOLLOW_UP, job=job)
    batch = await work.db(work.store.sends_of, work.event_id, prefix)
    if any(row.state in ("pending", "sending") for row in batch):
        return  # not the last one
    outcome: dict[str, list[str]] = {state.value: [] for state in Delivery}
    for row in batch:
        group = json.loads(row.follow_up)["args"]["group"]
        outcome.setdefault(row.state, []).append(group)
    sent, unconfirmed, failed = outcome["sent"], outcome["uncertain"], outcome["failed"]
    # No report address: a scheduled job's official has no identity on a connected platform.
    if args["report"] and (args["always_report"] or len(sent) > 1 or unconfirmed or failed):
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
