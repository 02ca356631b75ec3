"""定时 — announcements at a time, the asker's pending jobs, and cancelling one.

``/speak 明天 9点 内容`` (and ``/broadcast 12月5日 09:00 内容``) begin with a time (``bot.when``, read in
the bot's zone from the clock): ``later`` stores the job (``J3``) with its groups and confirms
privately with the time as read, the groups and how to cancel; a time that is not a real one or has
passed is refused with why, and nothing is scheduled. ``/schedule`` (定时) lists the asker's pending
jobs; ``/cancel J3`` (取消 J3) cancels one's own (admins any). The scheduler
(``handlers/scheduler.py``) fires them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC

from bot.when import WhenError, describe, read_at
from bot.work import Context, StaffContext
from handlers.common import clip, tell_official
from handlers.scope import UNRESTRICTED_ROLES
from storage import GroupInfo, JobInfo, JobKind, JobState

LABELS = {JobKind.ANNOUNCE: "定时公告", JobKind.BROADCAST: "定时群发"}
EXAMPLES = (
    "例如「/speak 明天 9点 内容」「/speak 12月5日 09:00 内容」「/speak 下周一 下午3点半 内容」。"
)
CANCEL_USAGE = "请写明要取消的定时任务编号，例如「/cancel J3」或「取消 J3」。"
_JOB_NUMBER = re.compile(r"^[#＃]?[JjＪｊ]?(\d{1,9})$")


def privately(ctx: StaffContext, text: str) -> None:
    """Tell the official ``text`` in their private chat (typed in a group, by a private message)."""
    if ctx.message.chat.is_group:
        tell_official(ctx, ctx.official, text, prefer=ctx.message.platform)
    else:
        ctx.reply(text, quote=False)


def group_names(targets: Sequence[tuple[str, str, str]]) -> str:
    """``幸福里小区、阳光花园``."""
    return "、".join(title or chat_id for _, chat_id, title in targets) or "（无）"


async def later(ctx: StaffContext, kind: str, groups: Sequence[GroupInfo], text: str) -> bool:
    """When ``text`` begins with a time: schedule ``text``'s rest for ``groups`` then and confirm
    privately, or say privately why the time cannot be used. False when it begins with no time
    (the announcement goes out now)."""
    zone = ctx.settings.bot.zone
    try:
        at = read_at(text, ctx.now, zone)
    except WhenError as exc:
        ctx.audit.fail("unusable time")
        privately(ctx, f"{exc}未安排发布。{EXAMPLES}")
        return True
    if at is None:
        return False
    if not at.rest:
        privately(ctx, f"请在时间后写明发布内容，{EXAMPLES}")
        return True
    targets = [(g.platform, g.chat_id, g.title) for g in groups]
    job = await ctx.db(
        ctx.store.schedule_job,
        kind,
        official_id=ctx.official.id,
        platform=ctx.message.platform,
        targets=targets,
        text=at.rest,
        due_at=at.moment.astimezone(UTC),
        at=ctx.now,
    )
    ctx.audit.subject = job.number
    privately(
        ctx,
        f"已安排{LABELS[kind]} {job.number}：{describe(at.moment, zone)} 发布到 {group_names(targets)}。\n"
        f"内容：{at.rest}\n"
        f"取消请发「/cancel {job.number}」或「取消 {job.number}」；查看待发任务：「/schedule」或「定时」。",
    )
    return True


def job_line(ctx: Context, job: JobInfo) -> str:
    """``· J3 2026年12月5日（周六）09:00 → 幸福里小区：内容``."""
    when = describe(job.due_at, ctx.settings.bot.zone)
    return f"· {job.number} {LABELS.get(job.kind, '')} {when} → {group_names(job.targets)}：{clip(job.text)}"


async def listing(ctx: StaffContext) -> None:
    """``schedule`` (定时): the asker's pending jobs, soonest first."""
    jobs = await ctx.db(ctx.store.pending_jobs, ctx.official.id)
    if not jobs:
        ctx.reply(f"您没有待发的定时任务。安排定时公告：{EXAMPLES}", quote=False)
        return
    lines = [f"您的待发定时任务 {len(jobs)} 个：", *(job_line(ctx, j) for j in jobs)]
    lines.append(f"取消请发「/cancel {jobs[0].number}」或「取消 {jobs[0].number}」。")
    ctx.reply("\n".join(lines), quote=False)


def job_number(word: str) -> int | None:
    """``J3``, ``j3``, ``#J3`` or ``3`` → 3."""
    match = _JOB_NUMBER.match(word.strip())
    return int(match.group(1)) if match else None


async def cancel(ctx: StaffContext) -> None:
    """``cancel`` (取消 J3): cancel one of the asker's pending jobs (an admin's: anyone's)."""
    assert ctx.command is not None
    number = job_number(ctx.command.args[0]) if ctx.command.args else None
    if number is None:
        ctx.reply(CANCEL_USAGE, quote=False)
        return
    ctx.audit.subject = f"J{number}"
    job = await ctx.db(ctx.store.job, number)
    if job is None:
        ctx.reply(f"没有找到定时任务 J{number}。查看您的定时任务：「/schedule」。", quote=False)
        return
    official = ctx.official
    if job.official_id != official.id and official.role not in UNRESTRICTED_ROLES:
        ctx.audit.refuse("not their job")
        ctx.reply(f"{job.number} 不是您安排的定时任务，您不能取消。", quote=False)
        return
    if job.state == JobState.PENDING and await ctx.db(
        ctx.store.cancel_job, job.id, official.id, ctx.now
    ):
        when = describe(job.due_at, ctx.settings.bot.zone)
        ctx.reply(
            f"已取消{LABELS.get(job.kind, '定时任务')} {job.number}（原定 {when}），不会发布。",
            quote=False,
        )
        return
    # Fired (or cancelled) before this, possibly by the scheduler a moment ago.
    fresh = await ctx.db(ctx.store.job, number)
    done = "已发布" if fresh is not None and fresh.state == JobState.FIRED else "已取消"
    ctx.reply(f"{job.number} {done}，无法取消。", quote=False)
