"""督办 — when a question passes its promised time, remind whoever handles it and the supervisors, and
apologise to the resident in the group with the delay template. Each wait is escalated once.

This runs on a timer (``OverdueReminder.run_forever``) rather than on a chat event; ``run_once`` is what
the timer, the demo and the tests call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import timedelta

from bot.dispatch import Context, Dispatcher, Role
from bot.events import Chat, IncomingMessage, Person
from handlers.common import local_time, render_template, send_or_log, tell_official, to_asker
from storage import OfficialInfo, QuestionInfo

log = logging.getLogger(__name__)

DELAY_TEMPLATE = "delay_apology"


class OverdueReminder:
    """Finds newly overdue questions and escalates each once."""

    def __init__(self, dispatcher: Dispatcher, interval_seconds: float = 60.0) -> None:
        self.dispatcher = dispatcher
        self.interval = interval_seconds

    def _context(self, question: QuestionInfo) -> Context:
        # A synthetic context lets the shared helpers (local time, templates, private messages) work
        # outside a chat event; the "sender" is the resident whose question is late.
        services = self.dispatcher.services
        return Context(
            message=IncomingMessage(
                platform=question.platform,
                chat=Chat(
                    question.platform,
                    question.chat_id,
                    question.group_title,
                    question.group_id is not None,
                ),
                sender=Person(question.platform, question.asker_user_id, question.asker_name),
                message_id=question.platform_message_id,
                text="",
                sent_at=services.clock(),
            ),
            role=Role.RESIDENT,
            official=None,
            services=services,
            dispatcher=self.dispatcher,
            text="",
            addressed=False,
            command=None,
        )

    async def run_once(self) -> list[QuestionInfo]:
        """Escalate every question that went overdue since the last run; returns them."""
        services = self.dispatcher.services
        store = services.store
        overdue = await services.db(store.claim_overdue, services.clock())
        if not overdue:
            return []
        supervisors = await services.db(store.supervisors)
        for question in overdue:
            # The claim is already stored: a question whose escalation fails here is not claimed
            # again, so one failure must not cost the others theirs.
            try:
                await self._escalate(question, supervisors)
            except Exception:
                log.exception("could not escalate overdue %s", question.number)
        return overdue

    async def _escalate(self, question: QuestionInfo, supervisors: list[OfficialInfo]) -> None:
        """督办: alert the assignee and the supervisors, and apologise to the resident."""
        services = self.dispatcher.services
        store = services.store
        ctx = self._context(question)
        assignee = (
            await services.db(store.official, question.assignee_id)
            if question.assignee_id is not None
            else None
        )
        who = assignee.name if assignee else "（未分配）"
        note = (
            f"【超时督办 {question.number}】{question.group_title or '私聊'} · {question.asker_name}："
            f"{question.text}\n承诺时间 {local_time(ctx, question.due_at)} 已过，承办人：{who}。"
            f"请尽快「/reply {question.number} 答复内容」。"
        )
        for official in [o for o in [assignee, *supervisors] if o is not None]:
            await tell_official(ctx, official, note, prefer=question.platform)
        # The apology names a fresh expected time; the promised one stays on record as missed.
        hours = services.settings.bot.answer_deadline_hours
        extended = dataclasses.replace(question, due_at=ctx.now + timedelta(hours=hours))
        apology = render_template(ctx, DELAY_TEMPLATE, extended, assignee)
        if apology and question.platform in self.dispatcher.platforms:
            # The officials were alerted whatever becomes of the apology.
            await send_or_log(
                f"the apology for overdue {question.number}", ctx.send(to_asker(question, apology))
            )

    async def run_forever(self) -> None:
        """Check every ``interval`` seconds until cancelled; errors are logged and the loop goes on."""
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("overdue check failed")
            await asyncio.sleep(self.interval)
