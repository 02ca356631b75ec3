"""The scheduler: fires the scheduled jobs that fell due, once each, on the 督办 timer's tick.

Jobs are rows of ``scheduled_jobs`` (``storage/schedule.py``): announcements officials scheduled
(``/speak 明天 9点 …``), supervisors' broadcasts, and each occurrence of the recurring jobs of bot.toml
``[schedule]`` — the daily digest to every official, the weekly 网情动态 brief to supervisors, admins
and ``[worktime] leaders``. A recurring job's next occurrence is planned as a row of its own before it
falls due (a name per occurrence, so two workers plan it once); a start after that time never sends
a digest for a time the bot was not planned to — but an occurrence planned before a stop is sent,
late, after the restart.

Each job fires in a unit of work of its own that first claims it (``Store.claim_due_job``: a
conditional update of a pending job, ``SKIP LOCKED`` on PostgreSQL) and then queues its messages: a
crash before the commit leaves the job pending and nothing queued; after it, the outbox delivers.
``handlers.overdue.OverdueReminder`` runs ``run_once`` on every tick and, replaying timestamped
console lines, steps the clock to each job's time on the way (``next_due``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from bot.dispatch import Dispatcher
from bot.events import OutgoingMessage
from bot.outbox import message_args
from bot.when import parse_week
from bot.work import Work
from handlers.common import private_address, tell_official
from handlers.lurk import digest_text
from handlers.schedule import group_names
from handlers.scope import jurisdiction, jurisdiction_groups
from handlers.speak import announce, speak_outcome
from handlers.weekly_brief import brief_text
from storage import JobInfo, JobKind, OfficialInfo
from storage.reports import ReportScope

log = logging.getLogger(__name__)

RECURRING = (JobKind.DIGEST, JobKind.BRIEF)
"""The jobs bot.toml ``[schedule]`` names, by their key there."""


class Scheduler:
    """Plans the recurring jobs and fires every job that fell due."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def plan(self) -> None:
        """Plan each recurring job's next occurrence after now (once, however many workers plan
        it); drop planned occurrences bot.toml no longer asks for."""

        async def planning(work: Work) -> None:
            settings = work.settings
            for kind in RECURRING:
                every = settings.schedule.every(kind)
                if every is None:  # turned off: not even a missed occurrence is sent
                    await work.db(work.store.drop_occurrences, kind, work.now, after=None)
                    continue
                upcoming = every.next_after(work.now, settings.bot.zone).astimezone(UTC)
                await work.db(work.store.plan_occurrence, kind, upcoming, work.now)
                # A missed occurrence (before now) is still sent, late; a moved one is not.
                await work.db(
                    work.store.drop_occurrences, kind, work.now, after=work.now, keep=upcoming
                )

        await self.dispatcher.in_unit("planning the recurring jobs", planning)

    async def next_due(self, after: datetime) -> datetime | None:
        """When the next job after ``after`` falls due (the recurring ones planned first)."""
        await self.plan()
        services = self.dispatcher.services
        return await services.db(services.store.next_job_at, after)

    async def run_once(self) -> list[JobInfo]:
        """Fire every job due by now, each in a unit of work of its own that claims it; then plan
        what recurs. Returns the jobs fired here (not those another worker fired)."""
        fired: list[JobInfo] = []
        while (job := await self._fire_one()) is not None:
            fired.append(job)
        await self.plan()
        if fired:
            await self.dispatcher.postman.flush()
        return fired

    async def _fire_one(self) -> JobInfo | None:
        """Claim the oldest due job and queue its messages, in one unit of work; None: none due."""
        claimed: list[JobInfo] = []

        async def fire(work: Work) -> None:
            claimed.clear()  # a unit retried after an outage starts again
            job = await work.db(work.store.claim_due_job, work.now)
            if job is not None:
                claimed.append(job)
                await FIRE[job.kind](work, job)

        await self.dispatcher.in_unit("a scheduled job", fire)
        return claimed[0] if claimed else None


async def _announce(work: Work, job: JobInfo) -> None:
    """An announcement or broadcast: to the groups it was scheduled for that are still within the
    official's groups (or jurisdiction), reported to the official privately."""
    official = await work.db(work.store.official, job.official_id) if job.official_id else None
    if official is None:
        log.warning("scheduled job %s dropped: its official is no longer on the roster", job.number)
        return
    if job.kind == JobKind.BROADCAST:
        allowed = await jurisdiction_groups(work, official)
    else:
        allowed = await work.db(work.store.groups_of, official.id)
    keys = {(g.platform, g.chat_id) for g in allowed}
    # Groups taken from the official since it was scheduled are no longer theirs to post in.
    targets = [t for t in job.targets if (t[0], t[1]) in keys]
    dropped = [t for t in job.targets if (t[0], t[1]) not in keys]
    address = private_address(official, work.platforms, prefer=job.platform)
    report = (
        message_args(OutgoingMessage(address[0], address[1], "", is_private=True))
        if address is not None
        else {}
    )
    if dropped:
        tell_official(
            work,
            official,
            f"{job.number} 未发往 {group_names(dropped)}：您已不再负责这些群。",
            prefer=job.platform,
        )
    if not announce(work, official, targets, job.text, report, always_report=True, job=job.id):
        tell_official(
            work,
            official,
            f"{job.number}：" + speak_outcome([], [], [t[2] or t[1] for t in targets]),
            prefer=job.platform,
        )


async def _digest(work: Work, job: JobInfo) -> None:
    """Every official serving groups gets the digest of the day before ``job``'s time, unless their
    groups were silent and nothing waits on them (an empty digest every evening teaches people to
    ignore it)."""
    since = job.due_at - timedelta(days=1)
    for official in await work.db(work.store.officials):
        if official.role != "official" or not await work.db(work.store.groups_of, official.id):
            continue
        found = await work.db(work.store.digest, official.id, since, work.now)
        if found.is_empty:
            continue
        text = digest_text(work, found) + "\n（每日定时摘要；随时可发「/digest」查看最新动态）"
        tell_official(work, official, text, prefer="")


async def _brief(work: Work, job: JobInfo) -> None:
    """Supervisors, admins and ``[worktime] leaders`` get last week's brief, each within their
    jurisdiction."""
    settings = work.settings
    week = parse_week("", job.due_at, settings.bot.zone)
    leaders = set(settings.worktime.leaders)
    readers: dict[int, OfficialInfo] = {o.id: o for o in await work.db(work.store.supervisors)}
    for official in await work.db(work.store.officials):
        if official.name in leaders:
            readers.setdefault(official.id, official)
    for official in readers.values():
        scope = ReportScope.of(jurisdiction(official))
        text = await work.read(brief_text, week, work.now, scope)
        tell_official(work, official, text, prefer="")


FIRE: dict[str, Callable[[Work, JobInfo], Awaitable[None]]] = {
    JobKind.ANNOUNCE: _announce,
    JobKind.BROADCAST: _announce,
    JobKind.DIGEST: _digest,
    JobKind.BRIEF: _brief,
}
