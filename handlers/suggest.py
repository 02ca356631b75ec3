"""Suggest reply templates to an official, privately: ranked, rendered, numbered, with buttons.

Used when a question arrives and when an official asks again (``/suggest Q12`` or ``推荐 Q12``). The
templates shown are remembered once the message has gone out, so the official can pick one by number.
"""

from __future__ import annotations

from typing import Any

from bot.events import Button
from bot.outbox import Delivered, Delivery, effect, message_args, message_from_args
from bot.work import Context, FollowUp, StaffContext, Work
from handlers import scope
from handlers.common import (
    local_time,
    question_number_arg,
    rank_templates,
    render_template,
    tell_official,
)
from storage import OfficialInfo, QuestionInfo

PREVIEW_CHARS = 90
UNREACHABLE = "无法私信您，请先私聊机器人或用「/bind 绑定码」绑定账号。"


def suggestion_text(
    ctx: Context, question: QuestionInfo, official: OfficialInfo, template_ids: list[str]
) -> tuple[str, list[str]]:
    """The private message listing numbered, rendered templates; returns (text, ids actually shown)."""
    department = question.department or "待定（系统无法确定，请人工判断）"
    lines = [
        f"【{'新问题' if question.state == 'open' else '问题'} {question.number}】"
        f"{question.group_title or '私聊'} · {question.asker_name}：",
        question.text,
        f"部门：{department}｜答复时限：{local_time(ctx, question.due_at)}",
    ]
    shown: list[str] = []
    for template_id in template_ids:
        body = render_template(ctx, template_id, question, official)
        if body is None:
            continue
        shown.append(template_id)
        title = ctx.services.templates.get(template_id).title
        preview = body if len(body) <= PREVIEW_CHARS else body[:PREVIEW_CHARS] + "…"
        lines.append(f"{len(shown)}. 〔{title}〕{preview}")
    if shown:
        lines.insert(3, "推荐答复：")
        lines.append(
            f"回复数字 1-{len(shown)} 发布对应答复（或「/reply {question.number} 序号」），"
            f"也可发送「/reply {question.number} 您的答复内容」自行答复。"
        )
    else:
        lines.append(f"暂无合适模板，请发送「/reply {question.number} 您的答复内容」答复。")
    return "\n".join(lines), shown


def offer_suggestions(
    ctx: Context,
    question: QuestionInfo,
    official: OfficialInfo,
    *,
    prefer: str,
    confirm: str = "",
    report_failure: bool = False,
) -> bool:
    """Rank, render and queue suggestions for ``official``; False when the official cannot be reached
    on a connected platform. Once sent they are remembered for picking by number; ``confirm`` (if
    given) is then said in the asking chat, and with ``report_failure`` a failed delivery is too."""
    analysis = ctx.analysis_
    ids = rank_templates(ctx.services, question, analysis)
    text, shown = suggestion_text(ctx, question, official, ids)
    buttons = [
        [Button(f"发布第{i}条", f"pick:{question.id}:{i}") for i in range(1, len(shown) + 1)]
    ]
    args: dict[str, Any] = {
        "official": official.id,
        "question": question.id,
        "templates": shown,
    }
    if confirm:
        args["confirm"] = message_args(ctx.reply_message(confirm))
    if report_failure:
        args["unreachable"] = message_args(ctx.reply_message(UNREACHABLE))
    return tell_official(
        ctx,
        official,
        text,
        prefer=prefer,
        buttons=buttons if shown else (),
        follow_up=FollowUp("suggest.shown", args),
    )


@effect("suggest.shown")
async def shown(work: Work, delivered: Delivered, args: dict[str, Any]) -> None:
    """Remember the templates shown (a message that may have arrived counts: picking by number
    must work if it did); tell the asker how it went when they asked for it."""
    if delivered.outcome is Delivery.FAILED:
        if "unreachable" in args:
            work.send(message_from_args(args["unreachable"]), what="a suggestion failure notice")
        return
    if args["templates"]:
        await work.db(
            work.store.record_suggestions,
            args["official"],
            args["question"],
            args["templates"],
            work.now,
        )
        await work.db(
            work.store.add_step,
            args["question"],
            "suggested",
            at=work.now,
            official_id=args["official"],
            note="、".join(args["templates"]),
        )
    if "confirm" in args:
        work.send(message_from_args(args["confirm"]), what="a suggestion confirmation")


async def suggest(ctx: StaffContext) -> None:
    """``/suggest Q12`` — an official asks again for suggestions."""
    number = question_number_arg(ctx)
    if number is None:
        ctx.reply("请写明问题编号，例如「/suggest Q12」。")
        return
    question = await scope.ticket_in_scope(ctx, number)
    if question is None:
        return
    confirm = f"已私信您 {question.number} 的推荐答复。" if ctx.message.chat.is_group else ""
    if not offer_suggestions(
        ctx,
        question,
        ctx.official,
        prefer=ctx.message.platform,
        confirm=confirm,
        report_failure=True,
    ):
        ctx.reply(UNREACHABLE)
