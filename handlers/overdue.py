"""督办 in stages — each fires once per deadline, survives a restart (the store marks it sent in the same
unit of work that queues its messages) and is recorded in the ticket's history:

1. **Reminder** at ``[worktime] reminder_share`` of the time (default 80%): the handling official, privately.
2. **督办** at the deadline: the handling official and the supervisors whose jurisdiction holds the
   question — its department's, those overseeing its group, and admins (residents' personal data
   masked for them, ``bot.text.privacy``); the resident gets the delay apology with the new time,
   which is when stage 3 falls due — so the new promise is tracked.
3. **Second level** ``[worktime] second_level_after`` past the deadline: the next level up (the
   officials named in ``[worktime] leaders``, else every admin, else every supervisor).

The same check asks for 回访 of answers left unrated (``handlers.visit.remind_revisits``), and the same
tick fires the scheduled jobs that fell due (``handlers.scheduler``: announcements at a time, the daily
digest, the weekly brief).

This runs on a timer (``OverdueReminder.run_forever``), not on a chat event; console transcripts with
timestamps drive it through ``catch_up`` so that stages falling due between two lines fire in order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.dispatch import Dispatcher
from bot.text.privacy import mask
from bot.work import Work
from handlers.common import local_time, render_template, tell_official, to_asker
from handlers.scheduler import Scheduler
from handlers.scope import may_act
from handlers.visit import remind_revisits
from storage import OfficialInfo, QuestionInfo
from storage.loop import Stage

log = logging.getLogger(__name__)

DELAY_TEMPLATE = "delay_apology"


@dataclass(frozen=True, slots=True)
class Overseer:
    """A supervisor or admin and the groups assigned to them (with their department, their
    jurisdiction: ``handlers.scope.may_act``)."""

    official: OfficialInfo
    groups: set[tuple[str, str]]


class OverdueReminder:
    """Fires the 督办 stages that fell due."""

    def __init__(self, dispatcher: Dispatcher, interval_seconds: float = 60.0) -> None:
        self.dispatcher = dispatcher
        self.interval = interval_seconds
        self.scheduler = Scheduler(dispatcher)

    async def run_once(self) -> list[QuestionInfo]:
        """Fire every stage that fell due; returns the questions that went overdue (stage 2), once the
        reminders and apologies have been delivered."""
        overdue: list[QuestionInfo] = []
        fired = 0

        async def supervise(work: Work) -> None:
            nonlocal fired
            overdue.clear()
            reminded = await work.db(work.store.claim_stage, Stage.REMIND, work.now)
            overdue.extend(await work.db(work.store.claim_overdue, work.now))
            second = await work.db(work.store.claim_stage, Stage.SECOND_LEVEL, work.now)
            revisits = await remind_revisits(work)
            fired = len(reminded) + len(overdue) + len(second) + len(revisits)
            if not fired:
                return
            for question in reminded:
                await self._remind(work, question)
            supervisors = [
                Overseer(
                    s, {(g.platform, g.chat_id) for g in await work.db(work.store.groups_of, s.id)}
                )
                for s in await work.db(work.store.supervisors)
            ]
            for question in overdue:
                await self._escalate(work, question, supervisors)
            for question in second:
                await self._second_level(work, question)

        await self.dispatcher.in_unit("the 督办 check", supervise)
        if fired:
            await self.dispatcher.postman.flush()
        await self.scheduler.run_once()
        return list(overdue)

    async def catch_up(
        self, moment: datetime | None, set_clock: Callable[[datetime | None], None]
    ) -> None:
        """Move a replayed clock to ``moment``, firing in order every stage that falls due on the way
        (``None``: back to the wall clock)."""
        if moment is None:
            set_clock(None)
            return
        services = self.dispatcher.services
        while (due := await self._next(services.clock())) is not None:
            if due > moment:
                break
            # A second past the stage's time: the deadline stage fires once the deadline has passed.
            set_clock(min(due + timedelta(seconds=1), moment))
            await self.run_once()
        set_clock(moment)
        await self.run_once()

    async def _next(self, after: datetime) -> datetime | None:
        """The next moment after ``after`` at which a stage or a scheduled job falls due."""
        services = self.dispatcher.services
        stage = await services.db(services.store.next_timer, after)
        job = await self.scheduler.next_due(after)
        return min((t for t in (stage, job) if t is not None), default=None)

    async def _assignee(self, work: Work, question: QuestionInfo) -> OfficialInfo | None:
        if question.assignee_id is None:
            return None
        return await work.db(work.store.official, question.assignee_id)

    async def _remind(self, work: Work, question: QuestionInfo) -> None:
        """Stage 1: a private reminder to the handling official."""
        assignee = await self._assignee(work, question)
        if assignee is None:
            return
        tell_official(
            work,
            assignee,
            f"【办理提醒 {question.number}】{question.group_title or '私聊'} · {question.asker_name}："
            f"{question.text}\n承诺时间 {local_time(work, question.due_at)}，请抓紧办理："
            f"「/reply {question.number} 答复内容」；需要延期请「/extend {question.number} 3d 原因」。",
            prefer=question.platform,
        )

    async def _escalate(
        self, work: Work, question: QuestionInfo, supervisors: list[Overseer]
    ) -> None:
        """Stage 2 (督办): alert the assignee and the department's supervisors, apologise to the
        resident with the new time."""
        assignee = await self._assignee(work, question)
        who = assignee.name if assignee else "（未分配）"
        note = (
            f"【超时督办 {question.number}】{question.group_title or '私聊'} · {question.asker_name}："
            f"{question.text}\n承诺时间 {local_time(work, question.due_at)} 已过，承办人：{who}。"
            f"请尽快「/reply {question.number} 答复内容」。"
        )
        # The assignee handles the question and sees it as written; supervisors see it masked.
        if assignee is not None:
            tell_official(work, assignee, note, prefer=question.platform)
        for overseer in supervisors:
            official = overseer.official
            if not may_act(official, question, overseer.groups):
                continue  # not within this supervisor's jurisdiction
            if assignee is None or official.id != assignee.id:
                tell_official(work, official, mask(note), prefer=question.platform)
        # The apology names the new expected time: when the second level falls due if it is missed.
        promised = work.services.worktime.span_after(
            question.due_at, work.settings.worktime.second_level_after
        )
        await work.db(
            work.store.add_step,
            question.id,
            Stage.ESCALATE,
            at=work.now,
            official_id=None,
            note=f"督办 {who}；向居民承诺新时间 {local_time(work, promised)}",
        )
        extended = dataclasses.replace(question, due_at=promised)
        apology = render_template(work, DELAY_TEMPLATE, extended, assignee)
        if apology and question.platform in work.platforms:
            work.send(
                to_asker(question, apology), what=f"the apology for overdue {question.number}"
            )

    async def _second_level(self, work: Work, question: QuestionInfo) -> None:
        """Stage 3: the next level up hears of a ticket still unanswered after the new time."""
        everyone = await work.db(work.store.officials)
        named = set(work.settings.worktime.leaders)
        leaders = [o for o in everyone if o.name in named] or [
            o for o in everyone if o.role == "admin"
        ]
        if not leaders:
            leaders = [o for o in everyone if o.role == "supervisor"]
        assignee = await self._assignee(work, question)
        note = mask(
            f"【二级督办 {question.number}】{question.group_title or '私聊'}：{question.text}\n"
            f"承诺时间 {local_time(work, question.due_at)} 已过且督办后仍未答复，"
            f"承办人：{assignee.name if assignee else '（未分配）'}，部门：{question.department or '未分类'}。"
        )
        for leader in leaders:
            tell_official(work, leader, note, prefer=question.platform)

    async def run_forever(self) -> None:
        """Check every ``interval`` seconds until cancelled; errors are logged and the loop goes on."""
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("督办 check failed")
            await asyncio.sleep(self.interval)
