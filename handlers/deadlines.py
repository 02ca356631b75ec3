"""A ticket's deadline and the times of its 督办 stages, on the working-time clock (``bot.worktime``).

Every promised time a resident sees is one of these: the deadline given when a ticket opens, the fresh
one a reopened ticket gets, and an approved extension.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from bot.work import Context, Work
from bot.worktime import Limit
from handlers.common import work_of
from storage import QuestionInfo


class Stages(NamedTuple):
    """A ticket's deadline and the times of its 督办 stages: the keyword arguments of
    ``Store.plan_deadline`` (and of ``Store.open_question``, which opens a ticket with them)."""

    due_at: datetime
    remind_at: datetime
    second_level_at: datetime
    limit_label: str


def stages(
    at: Context | Work,
    *,
    start: datetime,
    limit: Limit | None = None,
    due_at: datetime | None = None,
) -> Stages:
    """The deadline of ``limit`` counted from ``start`` (or ``due_at`` itself), with its reminder at
    ``[worktime] reminder_share`` of the time and its second level of 督办 ``second_level_after``
    past the deadline."""
    work = work_of(at)
    clock = work.services.worktime
    config = work.settings.worktime
    if due_at is None:
        assert limit is not None
        due_at = clock.deadline(start, limit)
    if limit is not None and limit.urgent:
        remind_at = start + (due_at - start) * config.reminder_share
    else:
        remind_at = clock.share_of(start, due_at, config.reminder_share)
    return Stages(
        due_at=due_at,
        remind_at=remind_at,
        second_level_at=clock.span_after(due_at, config.second_level_after),
        limit_label=limit.label() if limit is not None else "",
    )


async def plan(
    at: Context | Work,
    question_id: int,
    *,
    start: datetime,
    limit: Limit | None = None,
    due_at: datetime | None = None,
) -> QuestionInfo:
    """Give a ticket the deadline and 督办 stages ``stages`` counts (the 督办 stages start again)."""
    work = work_of(at)
    planned = stages(at, start=start, limit=limit, due_at=due_at)
    return await work.db(work.store.plan_deadline, question_id, **planned._asdict())


async def restart(at: Context | Work, question: QuestionInfo) -> QuestionInfo:
    """A fresh deadline for a reopened ticket: its time limit again, counted from now."""
    work = work_of(at)
    services = work.services
    limit = services.worktime.limit(
        services.text.intent(question.text).label, question.department, question.text
    )
    return await plan(at, question.id, start=work.now, limit=limit)
