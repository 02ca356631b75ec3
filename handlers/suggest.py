"""Suggest reply templates to an official, privately: ranked, rendered, numbered, with buttons.

Used when a question arrives and when an official asks again (``/suggest Q12`` or ``推荐 Q12``).
"""

from __future__ import annotations

from bot.dispatch import Context
from bot.events import Button
from handlers.common import (
    STAFF,
    local_time,
    question_number_arg,
    rank_templates,
    render_template,
    require,
    tell_official,
)
from storage import OfficialInfo, QuestionInfo

PREVIEW_CHARS = 90


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


async def offer_suggestions(
    ctx: Context, question: QuestionInfo, official: OfficialInfo, *, prefer: str
) -> bool:
    """Rank, render and send suggestions to ``official``; remember them for picking by number."""
    ids = rank_templates(ctx, question)
    text, shown = suggestion_text(ctx, question, official, ids)
    buttons = [
        [Button(f"发布第{i}条", f"pick:{question.id}:{i}") for i in range(1, len(shown) + 1)]
    ]
    delivered = await tell_official(
        ctx, official, text, prefer=prefer, buttons=buttons if shown else ()
    )
    if delivered and shown:
        await ctx.services.db(
            ctx.services.store.record_suggestions, official.id, question.id, shown, ctx.now
        )
    return delivered


class SuggestHandler:
    """``/suggest Q12`` — an official asks again for suggestions."""

    async def __call__(self, ctx: Context) -> bool:
        if ctx.command is None or ctx.command.name != "suggest":
            return False
        if not await require(ctx, STAFF):
            return True
        number = question_number_arg(ctx)
        if number is None:
            await ctx.reply("请写明问题编号，例如「/suggest Q12」。")
            return True
        question = await ctx.services.db(ctx.services.store.question, number)
        if question is None:
            await ctx.reply(f"没有找到问题 Q{number}。")
            return True
        assert ctx.official is not None
        if not await offer_suggestions(ctx, question, ctx.official, prefer=ctx.message.platform):
            await ctx.reply("无法私信您，请先私聊机器人或用「/bind 绑定码」绑定账号。")
        elif ctx.message.chat.is_group:
            await ctx.reply(f"已私信您 {question.number} 的推荐答复。")
        return True
