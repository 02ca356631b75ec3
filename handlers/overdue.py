"""督办 — when a question passes its promised time, remind whoever handles it and the supervisors, and
apologise to the resident in the group with the delay template. Each wait is escalated once. The
supervisors' alert goes to those whose jurisdiction holds the question (and admins), with residents'
personal data masked (``bot.text.privacy``).

This runs on a timer (``OverdueReminder.run_forever``), not on a chat event: one unit of work claims
the overdue questions and queues every reminder and apology, so they are all sent or none is claimed;
a group that cannot be reached costs no other question its escalation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.dispatch import Dispatcher
from bot.text.privacy import mask
from bot.work import Work
from handlers.common import local_time, render_template, tell_official, to_asker
from handlers.scope import may_act
from storage import OfficialInfo, QuestionInfo

log = logging.getLogger(__name__)

DELAY_TEMPLATE = "delay_apology"


@dataclass(frozen=True, slots=True)
class Overseer:
    """A supervisor or admin and the groups assigned to them (with their department, their
    jurisdiction: ``handlers.scope.may_act``)."""

    official: OfficialInfo
    groups: set[tuple[str, str]]


class OverdueReminder:
    """Finds newly overdue questions and escalates each once."""

    def __init__(self, dispatcher: Dispatcher, interval_seconds: float = 60.0) -> None:
        self.dispatcher = dispatcher
        self.interval = interval_seconds

    async def run_once(self) -> list[QuestionInfo]:
        """Escalate every question that went overdue since the last run; returns them (once the
        reminders and apologies have been delivered)."""
        claimed: list[QuestionInfo] = []

        async def escalate(work: Work) -> None:
            claimed.clear()
            claimed.extend(await work.db(work.store.claim_overdue, work.now))
            if not claimed:
                return
            supervisors = [
                Overseer(
                    s, {(g.platform, g.chat_id) for g in await work.db(work.store.groups_of, s.id)}
                )
                for s in await work.db(work.store.supervisors)
            ]
            for question in claimed:
                await self._escalate(work, question, supervisors)

        await self.dispatcher.in_unit("the overdue check", escalate)
        if claimed:
            await self.dispatcher.postman.flush()
        return claimed

    async def _escalate(
        self, work: Work, question: QuestionInfo, supervisors: list[Overseer]
    ) -> None:
        """督办: alert the assignee and the supervisors, and apologise to the resident."""
        assignee = (
            await work.db(work.store.official, question.assignee_id)
            if question.assignee_id is not None
            else None
        )
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
        # The apology names a fresh expected time; the promised one stays on record as missed.
        hours = work.settings.bot.answer_deadline_hours
        extended = dataclasses.replace(question, due_at=work.now + timedelta(hours=hours))
        apology = render_template(work, DELAY_TEMPLATE, extended, assignee)
        if apology and question.platform in work.platforms:
            work.send(
                to_asker(question, apology), what=f"the apology for overdue {question.number}"
            )

    async def run_forever(self) -> None:
        """Check every ``interval`` seconds until cancelled; errors are logged and the loop goes on."""
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("overdue check failed")
            await asyncio.sleep(self.interval)
