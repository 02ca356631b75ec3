"""Scheduled jobs (``J3``): announcements and broadcasts people scheduled, and each occurrence of the
recurring digest and brief. The scheduler (handlers/scheduler.py) claims a due job in the unit of work
that queues its messages, so a job fires once: a crash before that unit commits leaves it pending,
and a second worker skips a job the first has locked or fired."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from storage.base import StoreBase
from storage.models import ScheduledJob


class JobKind:
    """What a scheduled job does."""

    ANNOUNCE = "announce"
    """An official's announcement to their groups (``/speak 明天 9点 …``)."""
    BROADCAST = "broadcast"
    """A supervisor's announcement to the groups of their jurisdiction (``/broadcast …``)."""
    DIGEST = "digest"
    """The daily digest to each official (bot.toml ``[schedule] digest``)."""
    BRIEF = "brief"
    """The weekly 网情动态 brief to supervisors and leaders (``[schedule] brief``)."""


class JobState:
    """Where a scheduled job stands."""

    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A scheduled job as handlers see it."""

    id: int
    kind: str
    official_id: int | None
    platform: str
    targets: list[tuple[str, str, str]]
    """(platform, chat id, title) of each group it goes to."""
    text: str
    due_at: datetime
    state: str

    @property
    def number(self) -> str:
        """``J3``."""
        return f"J{self.id}"


def _info(job: ScheduledJob, state: str | None = None) -> JobInfo:
    return JobInfo(
        id=job.id,
        kind=job.kind,
        official_id=job.official_id,
        platform=job.platform,
        targets=[(p, c, t) for p, c, t in json.loads(job.targets or "[]")],
        text=job.text,
        due_at=job.due_at,
        state=state or job.state,
    )


def slot_key(kind: str, due_at: datetime) -> str:
    """The name of one occurrence of a recurring job: ``digest@2026-11-16T10:00Z``."""
    return f"{kind}@{due_at.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


class ScheduleStore(StoreBase):
    """Scheduled jobs: planned, listed, cancelled and claimed once when due."""

    def schedule_job(
        self,
        kind: str,
        *,
        official_id: int | None,
        platform: str,
        targets: list[tuple[str, str, str]],
        text: str,
        due_at: datetime,
        at: datetime,
    ) -> JobInfo:
        """A job ``kind`` to fire at ``due_at``, scheduled by ``official_id``."""
        with self._tx() as session:
            job = ScheduledJob(
                kind=kind,
                official_id=official_id,
                platform=platform,
                targets=json.dumps([list(t) for t in targets], ensure_ascii=False),
                text=text,
                due_at=due_at,
                state=JobState.PENDING,
                created_at=at,
            )
            session.add(job)
            session.flush()
            return _info(job)

    def plan_occurrence(self, kind: str, due_at: datetime, at: datetime) -> bool:
        """Plan the occurrence of the recurring job ``kind`` at ``due_at``, unless it is planned (or
        fired) already, by this worker or another; True when this call planned it."""
        slot = slot_key(kind, due_at)
        with self._tx() as session:
            # Looked up first: planned at every tick, a refused insert would be an error in the
            # server's log every minute. The unique slot still settles two workers' race.
            if session.scalar(select(ScheduledJob.id).where(ScheduledJob.slot == slot)):
                return False
        try:
            with self._tx(guarded=True) as session:
                session.add(
                    ScheduledJob(
                        kind=kind,
                        slot=slot,
                        official_id=None,
                        platform="",
                        targets="[]",
                        text="",
                        due_at=due_at,
                        state=JobState.PENDING,
                        created_at=at,
                    )
                )
                session.flush()
        except IntegrityError:
            return False
        return True

    def drop_occurrences(
        self, kind: str, at: datetime, *, after: datetime | None, keep: datetime | None = None
    ) -> int:
        """Cancel the planned occurrences of ``kind`` later than ``after`` (None: all of them) other
        than ``keep``: its time in bot.toml changed, or it was turned off. Returns how many."""
        condition = [
            ScheduledJob.kind == kind,
            ScheduledJob.slot.is_not(None),
            ScheduledJob.state == JobState.PENDING,
        ]
        if after is not None:
            condition.append(ScheduledJob.due_at > after)
        if keep is not None:
            condition.append(ScheduledJob.due_at != keep)
        with self._tx() as session:
            done = session.execute(
                update(ScheduledJob)
                .where(*condition)
                .values(state=JobState.CANCELLED, ended_at=at)
                .execution_options(synchronize_session=False)
            )
            return int(getattr(done, "rowcount", 0) or 0)

    def claim_due_job(self, now: datetime) -> JobInfo | None:
        """The oldest pending job due by ``now``, marked fired in the caller's transaction — so it is
        fired once: a job another worker holds is skipped (``SKIP LOCKED`` on PostgreSQL; SQLite has
        one writer), and the conditional update claims only a job still pending. None: nothing due."""
        with self._tx() as session:
            job = session.scalars(
                select(ScheduledJob)
                .where(ScheduledJob.state == JobState.PENDING, ScheduledJob.due_at <= now)
                .order_by(ScheduledJob.due_at, ScheduledJob.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if job is None:
                return None
            claimed = session.execute(
                update(ScheduledJob)
                .where(ScheduledJob.id == job.id, ScheduledJob.state == JobState.PENDING)
                .values(state=JobState.FIRED, ended_at=now)
                .execution_options(synchronize_session=False)
            )
            if not getattr(claimed, "rowcount", 0):
                return None  # fired by another worker meanwhile
            return _info(job, JobState.FIRED)

    def next_job_at(self, after: datetime) -> datetime | None:
        """When the next pending job after ``after`` falls due (for replays)."""
        with self._tx() as session:
            return session.scalar(
                select(func.min(ScheduledJob.due_at)).where(
                    ScheduledJob.state == JobState.PENDING, ScheduledJob.due_at > after
                )
            )

    def job(self, job_id: int) -> JobInfo | None:
        """Job ``J{job_id}`` scheduled by people (recurring occurrences are not theirs to see)."""
        with self._tx() as session:
            job = session.get(ScheduledJob, job_id)
            return _info(job) if job is not None and job.slot is None else None

    def pending_jobs(self, official_id: int | None = None) -> list[JobInfo]:
        """People's pending jobs, soonest first: ``official_id``'s, or everyone's (None)."""
        with self._tx() as session:
            query = select(ScheduledJob).where(
                ScheduledJob.state == JobState.PENDING, ScheduledJob.slot.is_(None)
            )
            if official_id is not None:
                query = query.where(ScheduledJob.official_id == official_id)
            found = session.scalars(query.order_by(ScheduledJob.due_at, ScheduledJob.id)).all()
            return [_info(j) for j in found]

    def cancel_job(self, job_id: int, official_id: int, at: datetime) -> bool:
        """Cancel job ``J{job_id}`` if it is still pending; True when this call cancelled it."""
        with self._tx() as session:
            done = session.execute(
                update(ScheduledJob)
                .where(ScheduledJob.id == job_id, ScheduledJob.state == JobState.PENDING)
                .values(state=JobState.CANCELLED, ended_at=at, cancelled_by_id=official_id)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(done, "rowcount", 0))
