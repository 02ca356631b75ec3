"""聊天 — an official answers a question: template k of the suggestions, or free text.

Ways to answer: tap a suggestion button (``pick:12:2``), ``/reply Q12 2``, ``/reply Q12 答复内容``, a bare
``2`` in the private chat (picks from the latest suggestions), or replying on the platform to the
resident's question message in the group. The answer is posted as a reply to the resident's message with
rating buttons; it is engagement ``answer`` with its response time, and the question becomes answered.
"""

from __future__ import annotations

import logging

from bot.commands import parse_question_number
from bot.dispatch import Context
from bot.events import DeliveryUncertain, EventKind, Undeliverable
from handlers.common import (
    STAFF,
    duration,
    rank_templates,
    rating_buttons,
    render_template,
    require,
    to_asker,
)
from storage import OfficialInfo, QuestionInfo, QuestionState, StoreError

log = logging.getLogger(__name__)

RATING_HINT = "请对本次答复进行评价：满意 / 基本满意 / 不满意（点按钮或直接回复）。"
RATING_HINT_TEXT = "请直接回复评价：满意 / 基本满意 / 不满意（或回复 1 / 2 / 3）。"
"""For platforms without buttons (WeChat, the console)."""
BUTTON_PLATFORMS = frozenset({"telegram", "test"})


def rating_hint(platform: str) -> str:
    """How to rate on this platform."""
    return RATING_HINT if platform in BUTTON_PLATFORMS else RATING_HINT_TEXT


async def post_answer(
    ctx: Context,
    question: QuestionInfo,
    official: OfficialInfo,
    text: str,
    *,
    template_id: str | None = None,
) -> str:
    """Post ``text`` as the answer to ``question`` in its chat, record it; returns a confirmation.

    An answer the platform refused, or may not have posted, is not recorded; the returned text
    tells the official what happened and how to answer again.
    """
    if question.state == QuestionState.CLOSED:
        return f"{question.number} 已关闭，无需答复。"
    signature = f"——{official.name}" + (f"（{official.department}）" if official.department else "")
    try:
        sent = await ctx.send(
            to_asker(
                question,
                f"【{question.number} 答复】{text}\n{signature}\n{rating_hint(question.platform)}",
                rating_buttons(question),
            )
        )
    except DeliveryUncertain as exc:
        log.warning("answer to %s may not have been posted: %s", question.number, exc)
        return (
            f"{question.number} 的答复已发出，但没有收到平台确认，可能未发布成功，本次未记录。"
            "请到群里查看：没有出现就请重新答复；已经出现的，在群里回复该居民的提问"
            "（如「已答复，见上」）即可记录。"
        )
    except Undeliverable as exc:
        log.warning("answer to %s refused: %s", question.number, exc)
        return f"{question.number} 的答复未能发出：平台拒绝发送到该聊天（机器人可能已被移出群）。"
    result = await ctx.services.db(
        ctx.services.store.answer_question,
        question.id,
        official_id=official.id,
        text=text,
        at=ctx.now,
        answer_platform_message_id=sent.message_id,
        template_id=template_id,
    )
    timing = "按时" if result.on_time else "已超时"
    return (
        f"已发布 {question.number} 的答复（用时 {duration(result.response_seconds)}，{timing}）。"
    )


async def answer_with_template(
    ctx: Context, question: QuestionInfo, official: OfficialInfo, rank: int
) -> str:
    """Post suggestion number ``rank`` (1-based) for ``question``; returns what to tell the official."""
    store = ctx.services.store
    pending = await ctx.services.db(store.pending_suggestions, official.id, question.id)
    ids = list(pending.template_ids) if pending else rank_templates(ctx, question)
    if not ids:
        return f"{question.number} 暂无推荐答复，请发送「/reply {question.number} 您的答复内容」自行答复。"
    if not 1 <= rank <= len(ids):
        return f"{question.number} 的推荐答复只有 {len(ids)} 条，请选择 1-{len(ids)}。"
    body = render_template(ctx, ids[rank - 1], question, official)
    if body is None:
        return "该模板暂时无法使用（已记录），请换一条或自行答复。"
    return await post_answer(ctx, question, official, body, template_id=ids[rank - 1])


class PickButtonHandler:
    """A tap on a suggestion button posts that template as the official's answer."""

    async def __call__(self, ctx: Context) -> bool:
        press = ctx.message.button
        if ctx.message.kind is not EventKind.BUTTON or press is None:
            return False
        if not press.data.startswith("pick:"):
            return False
        if ctx.official is None:
            await ctx.answer_button("仅限工作人员使用。")
            return True
        try:
            _, number, rank = press.data.split(":")
            question = await ctx.services.db(ctx.services.store.question, int(number))
            index = int(rank)
        except ValueError:
            await ctx.answer_button("按钮已失效。")
            return True
        if question is None:
            await ctx.answer_button("问题不存在。")
            return True
        outcome = await answer_with_template(ctx, question, ctx.official, index)
        await ctx.answer_button(outcome[:190])
        await ctx.reply(outcome, quote=False)
        return True


class ReplyHandler:
    """``/reply Q12 2`` · ``/reply Q12 文字`` · ``/reply 2`` · a bare number in the private chat."""

    async def __call__(self, ctx: Context) -> bool:
        msg = ctx.message
        command = ctx.command
        bare_pick = (
            command is None
            and msg.kind is EventKind.MESSAGE
            and msg.is_private
            and ctx.official is not None
            and ctx.text.strip().isdigit()
            and len(ctx.text.strip()) <= 2
        )
        if not bare_pick and (command is None or command.name != "reply"):
            return False
        if not await require(ctx, STAFF):
            return True
        official = ctx.official
        assert official is not None
        store = ctx.services.store
        if bare_pick:
            args: tuple[str, ...] = (ctx.text.strip(),)
            rest = ""
            number = None
        else:
            assert command is not None
            args, rest = command.args, command.rest
            # Only a Q-prefixed first word is a question number: "/reply 2" picks suggestion 2.
            number = parse_question_number(args[0]) if args and not args[0].isdigit() else None
            if number is not None:
                args = args[1:]
                rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
        if number is None:
            pending = await ctx.services.db(store.pending_suggestions, official.id)
            if pending is None:
                await ctx.reply("请写明问题编号，例如「/reply Q12 2」或「/reply Q12 您的答复」。")
                return True
            number = pending.question_id
        question = await ctx.services.db(store.question, number)
        if question is None:
            await ctx.reply(f"没有找到问题 Q{number}。")
            return True
        if not args:
            await ctx.reply(f"请写明答复内容或推荐序号，例如「/reply {question.number} 1」。")
            return True
        if len(args) == 1 and args[0].isdigit() and len(args[0]) <= 2:
            outcome = await answer_with_template(ctx, question, official, int(args[0]))
        else:
            outcome = await post_answer(ctx, question, official, rest.strip())
        await ctx.reply(outcome, quote=False)
        return True


class PlatformReplyHandler:
    """An official replying in the group to a resident's question message: that reply is the answer."""

    async def __call__(self, ctx: Context) -> bool:
        msg = ctx.message
        if (
            msg.kind is not EventKind.MESSAGE
            or ctx.official is None
            or not msg.chat.is_group
            or not msg.reply_to_message_id
            or ctx.command is not None
        ):
            return False
        store = ctx.services.store
        question = await ctx.services.db(
            store.question_for_message, msg.platform, msg.chat.chat_id, msg.reply_to_message_id
        )
        if question is None or msg.reply_to_message_id == question.answer_platform_message_id:
            return False
        try:
            await ctx.services.db(
                store.answer_question,
                question.id,
                official_id=ctx.official.id,
                text=msg.text,
                at=msg.sent_at,
                answer_platform_message_id=msg.message_id,
            )
        except StoreError:
            return False
        await ctx.reply(
            f"{question.number} 已答复。{rating_hint(question.platform)}",
            reply_to=msg.message_id,
            buttons=rating_buttons(question),
        )
        return True
