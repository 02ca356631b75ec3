"""A ticket's history: every step with its time, who took it and a note — ``/history Q12`` for staff
(privately; the route declares ``private_answer``) and ``minyi ticket show Q12`` / ``ticket list``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import tzinfo

from bot.text.privacy import mask
from bot.work import StaffContext
from handlers import scope
from handlers.common import STATE_LABELS, clip, question_number_arg
from storage import QuestionInfo
from storage.loop import HistoryStep

STEP_LABELS = {
    "open": "受理",
    "acknowledged": "回执",
    "queued": "待分派",
    "case": "线下登记",
    "suggested": "推荐答复",
    "transferred": "转办",
    "returned": "退回",
    "reminded": "办理提醒",
    "escalated": "超时督办",
    "second_level": "二级督办",
    "extension_asked": "申请延期",
    "extension_approved": "批准延期",
    "extension_refused": "驳回延期",
    "answered": "答复",
    "rated": "评价",
    "reopened": "重新打开",
    "resolved": "办结",
    "visited": "走访",
    "revisit_reminded": "回访提醒",
    "closed": "关闭",
}
RATING_NOTES = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
ACTORS = {"resident": "居民", "visit": "回访"}


def _line(step: HistoryStep, zone: tzinfo) -> tuple[str, str, str, str]:
    note = RATING_NOTES.get(step.note, step.note)
    actor = ACTORS.get(step.actor, step.actor) if step.kind == "rated" else step.actor
    at = step.at.astimezone(zone)
    return f"{at:%Y-%m-%d %H:%M}", STEP_LABELS.get(step.kind, step.kind), actor or "-", note


def format_history(
    question: QuestionInfo, steps: Sequence[HistoryStep], zone: tzinfo, *, masked: bool
) -> str:
    """The history as text lines; ``masked`` hides residents' phone and ID numbers."""
    hide = mask if masked else (lambda text: text)
    head = (
        f"【{question.number} 办理记录】{STATE_LABELS.get(question.state, question.state)}"
        f"，{question.department or '未分类'}，承办人 {question.assignee_name or '（未分配）'}，"
        f"期限 {question.due_at.astimezone(zone):%Y-%m-%d %H:%M}"
        + (f"（{question.limit_label}）" if question.limit_label else "")
    )
    lines = [head, hide(clip(question.text, 80))]
    for at, kind, actor, note in (_line(step, zone) for step in steps):
        lines.append(f"{at}  {kind}  {actor}" + (f"  {hide(clip(note, 80))}" if note else ""))
    return "\n".join(lines)


def history_json(question: QuestionInfo, steps: Sequence[HistoryStep], zone: tzinfo) -> str:
    """The history as JSON (for administrators' tools)."""
    return json.dumps(
        {
            "number": question.number,
            "state": question.state,
            "department": question.department,
            "assignee": question.assignee_name,
            "due_at": question.due_at.astimezone(zone).isoformat(),
            "limit": question.limit_label,
            "text": question.text,
            "steps": [
                {
                    "at": step.at.astimezone(zone).isoformat(),
                    "kind": step.kind,
                    "label": STEP_LABELS.get(step.kind, step.kind),
                    "actor": step.actor,
                    "note": step.note,
                }
                for step in steps
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


def format_ticket_list(questions: Sequence[QuestionInfo], zone: tzinfo) -> str:
    """One line per ticket, for ``minyi ticket list`` (personal data masked)."""
    if not questions:
        return "（没有符合条件的问题）"
    return "\n".join(
        f"{q.number:<6} {STATE_LABELS.get(q.state, q.state):<10} "
        f"{q.due_at.astimezone(zone):%Y-%m-%d %H:%M}  {q.department or '未分类'}  "
        f"{q.assignee_name or '（未分配）'}  {mask(clip(q.text, 40))}"
        for q in questions
    )


async def history(ctx: StaffContext) -> None:
    """``/history Q12`` — the ticket's every step, privately."""
    number = question_number_arg(ctx)
    if number is None:
        ctx.reply("请写明问题编号，例如「/history Q12」。")
        return
    question = await scope.ticket_in_scope(ctx, number)
    if question is None:
        return
    steps = await ctx.db(ctx.store.history, question.id)
    # The handling official sees the resident's words as written; anyone else, masked.
    masked = question.assignee_id != ctx.official.id
    ctx.reply(format_history(question, steps, ctx.settings.bot.zone, masked=masked), quote=False)
