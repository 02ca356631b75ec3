"""聊天 — an official answers a question: template k of the suggestions, or free text.

Ways to answer: tap a suggestion button (``pick:12:2``), ``/reply Q12 2``, ``/reply Q12 答复内容``, a bare
``2`` in the private chat (picks from the latest suggestions), or replying on the platform to the
resident's question message in the group. The answer is posted as a reply to the resident's message with
rating buttons. It is recorded — engagement ``answer`` with its response time, the question answered —
only once the platform confirms the post (the follow-up ``answer.posted``); an answer the platform
refused, or may not have posted, is not recorded, and the official is told what happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.commands import looks_like_ticket, parse_question_number
from bot.events import ButtonPress, EventKind
from bot.outbox import Delivered, Delivery, effect, message_args, message_from_args
from bot.work import Context, FollowUp, StaffContext, Work
from handlers import same_question, scope
from handlers.common import (
    duration,
    rank_templates,
    rating_buttons,
    render_template,
    signature,
    tell_official,
    to_asker,
)
from handlers.visit import plan_revisit
from storage import OfficialInfo, QuestionInfo, QuestionState, StoreError

RATING_HINT = "请对本次答复进行评价：满意 / 基本满意 / 不满意（点按钮或直接回复）。"
RATING_HINT_TEXT = "请直接回复评价：满意 / 基本满意 / 不满意（或回复 1 / 2 / 3）。"
"""For platforms without buttons (WeChat, the console)."""


def rating_hint(at: Context | Work, platform: str) -> str:
    """How to rate on ``platform``: by button where it has them, by a word or a digit elsewhere."""
    work = at.work if isinstance(at, Context) else at
    return RATING_HINT if work.has_buttons(platform) else RATING_HINT_TEXT


def post_answer(
    ctx: Context,
    question: QuestionInfo,
    official: OfficialInfo,
    text: str,
    *,
    template_id: str | None = None,
) -> None:
    """Queue ``text`` as the answer to ``question`` in its chat; the official hears how it went."""
    if question.state == QuestionState.CLOSED:
        tell_outcome(ctx, f"{question.number} 已关闭，无需答复。")
        return
    ctx.send(
        to_asker(
            question,
            f"【{question.number} 答复】{text}\n{signature(official)}\n"
            f"{rating_hint(ctx, question.platform)}",
            rating_buttons(question),
        ),
        what=f"the answer to {question.number}",
        follow_up=FollowUp(
            "answer.posted",
            {
                "question": question.id,
                "number": question.number,
                "official": official.id,
                "text": text,
                "template": template_id,
                "at": ctx.now.isoformat(),
                "report": message_args(ctx.reply_message("", quote=False)),
                "press": list(_press(ctx)) if ctx.message.button is not None else None,
            },
        ),
    )
    ctx.defer_button()


def _press(ctx: Context) -> tuple[str, str, str]:
    press = ctx.message.button
    assert press is not None
    return press.press_id, press.data, press.message_id


def tell_outcome(ctx: Context, outcome: str) -> None:
    """Tell the official how answering went: on the button they pressed and privately (typed in a
    group, it would be read by the residents)."""
    ctx.answer_button(outcome[:190])
    if ctx.message.chat.is_group and ctx.official is not None:
        tell_official(ctx, ctx.official, outcome, prefer=ctx.message.platform)
    else:
        ctx.reply(outcome, quote=False)


@effect("answer.posted")
async def answer_posted(work: Work, delivered: Delivered, args: dict[str, Any]) -> None:
    """Record a posted answer and confirm it to the official; or say why it was not recorded."""
    number = args["number"]
    if delivered.outcome is Delivery.SENT and delivered.sent is not None:
        try:
            result = await work.db(
                work.store.answer_question,
                args["question"],
                official_id=args["official"],
                text=args["text"],
                at=datetime.fromisoformat(args["at"]),
                answer_platform_message_id=delivered.sent.message_id,
                template_id=args["template"],
            )
        except StoreError as exc:
            outcome = f"{number} 的答复已发出，但未能记录：{exc}"
        else:
            await plan_revisit(work, args["question"], datetime.fromisoformat(args["at"]))
            timing = "按时" if result.on_time else "已超时"
            outcome = (
                f"已发布 {number} 的答复（用时 {duration(result.response_seconds)}，{timing}）。"
            )
            also = await same_question.answer_linked(
                work,
                result.question,
                args["official"],
                args["text"],
                rating_hint(work, result.question.platform),
                datetime.fromisoformat(args["at"]),
            )
            if also:
                outcome += f"同问的 {also} 位居民也已收到这条答复。"
    elif delivered.outcome is Delivery.UNCERTAIN:
        outcome = (
            f"{number} 的答复已发出，但没有收到平台确认，可能未发布成功，本次未记录。"
            "请到群里查看：没有出现就请重新答复；已经出现的，在群里回复该居民的提问"
            "（如「已答复，见上」）即可记录。"
        )
    else:
        outcome = f"{number} 的答复未能发出：平台拒绝发送到该聊天（机器人可能已被移出群）。"
    report = message_from_args({**args["report"], "text": outcome})
    if args.get("press"):
        work.answer_press(
            report.platform, report.chat_id, ButtonPress(*args["press"]), outcome[:190]
        )
    work.send(report, what=f"the outcome of answering {number}")


async def answer_with_template(
    ctx: Context, question: QuestionInfo, official: OfficialInfo, rank: int
) -> None:
    """Post suggestion number ``rank`` (1-based) for ``question``."""
    pending = await ctx.db(ctx.store.pending_suggestions, official.id, question.id)
    ids = list(pending.template_ids) if pending else rank_templates(ctx.services, question)
    if not ids:
        tell_outcome(
            ctx,
            f"{question.number} 暂无推荐答复，请发送「/reply {question.number} 您的答复内容」自行答复。",
        )
        return
    if not 1 <= rank <= len(ids):
        tell_outcome(ctx, f"{question.number} 的推荐答复只有 {len(ids)} 条，请选择 1-{len(ids)}。")
        return
    body = render_template(ctx, ids[rank - 1], question, official)
    if body is None:
        tell_outcome(ctx, "该模板暂时无法使用（已记录），请换一条或自行答复。")
        return
    post_answer(ctx, question, official, body, template_id=ids[rank - 1])


async def pick_button(ctx: StaffContext) -> None:
    """A tap on a suggestion button posts that template as the official's answer."""
    press = ctx.message.button
    assert press is not None
    try:
        _, number, rank = press.data.split(":")
        question = await ctx.db(ctx.store.question, int(number))
        index = int(rank)
    except ValueError:
        ctx.answer_button("按钮已失效。")
        return
    if question is None:
        ctx.answer_button("问题不存在。")
        return
    if not await scope.check(ctx, question, question.number):
        return
    await answer_with_template(ctx, question, ctx.official, index)


def is_bare_pick(ctx: Context) -> bool:
    """A bare number (``2``) in the private chat picks from the latest suggestions."""
    text = ctx.text.strip()
    return (
        ctx.message.kind is EventKind.MESSAGE
        and ctx.command is None
        and text.isdigit()
        and len(text) <= 2
    )


async def reply(ctx: StaffContext) -> None:
    """``/reply Q12 2`` · ``/reply Q12 文字`` · ``/reply 2`` · a bare number in the private chat.

    A mistyped ticket number (``/reply Q 2 …``, ``/reply Q``, a number too long to be one) or a body of
    bare digits that is no suggestion (``/reply Q1 100``) publishes nothing: the official gets a
    correction privately."""
    official = ctx.official
    command = ctx.command
    number: int | None = None
    if command is None:
        args: tuple[str, ...] = (ctx.text.strip(),)
        rest = ""
    else:
        args, rest = command.args, command.rest
        if args and looks_like_ticket(args[0]):
            number = parse_question_number(args[0])
            if number is None:
                correct(ctx, BAD_NUMBER.format(word=args[0]))
                return
            args = args[1:]
            rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
    if number is None:
        pending = await ctx.db(ctx.store.pending_suggestions, official.id)
        if pending is None:
            correct(ctx, "请写明问题编号，例如「/reply Q12 2」或「/reply Q12 您的答复」。")
            return
        number = pending.question_id
    question = await ctx.db(ctx.store.question, number)
    if question is None:
        correct(ctx, f"没有找到问题 Q{number}，请核对编号，未发布任何内容。")
        return
    if not await scope.check(ctx, question, question.number):
        return
    if not args:
        correct(ctx, f"请写明答复内容或推荐序号，例如「/reply {question.number} 1」。")
        return
    if all(arg.isdigit() for arg in args):
        # Bare digits are a suggestion's number, never an answer to publish.
        if len(args) == 1 and len(args[0]) <= 2:
            await answer_with_template(ctx, question, official, int(args[0]))
        else:
            correct(
                ctx,
                f"「{' '.join(args)}」不是推荐序号，未发布。选推荐答复请发「/reply {question.number} 1」，"
                f"自行答复请写明内容。",
            )
        return
    post_answer(ctx, question, official, rest.strip())


BAD_NUMBER = (
    "问题编号「{word}」有误，未发布任何内容。编号是 Q 加数字，"
    "例如「/reply Q12 答复内容」或「/reply Q12 2」。"
)


def correct(ctx: StaffContext, text: str) -> None:
    """Tell the official what to fix, privately (nothing is posted where residents read)."""
    ctx.answer_button(text[:190])
    if ctx.message.chat.is_group:
        tell_official(ctx, ctx.official, text, prefer=ctx.message.platform)
    else:
        ctx.reply(text, quote=False)


def is_platform_reply(ctx: Context) -> bool:
    """A plain group message that replies on the platform to another message."""
    msg = ctx.message
    return msg.kind is EventKind.MESSAGE and bool(msg.reply_to_message_id) and ctx.command is None


async def platform_reply(ctx: StaffContext) -> bool:
    """An official replying in the group to a resident's question message: that reply is the answer.
    Returns False when the message replied to is no question (the message is then ordinary chat)."""
    msg = ctx.message
    assert msg.reply_to_message_id is not None
    question = await ctx.db(
        ctx.store.question_for_message, msg.platform, msg.chat.chat_id, msg.reply_to_message_id
    )
    if question is None or msg.reply_to_message_id == question.answer_platform_message_id:
        return False
    if not await scope.check(ctx, question, question.number):
        return True  # not this official's to answer: nothing is recorded or posted
    try:
        await ctx.db(
            ctx.store.answer_question,
            question.id,
            official_id=ctx.official.id,
            text=msg.text,
            at=msg.sent_at,
            answer_platform_message_id=msg.message_id,
        )
    except StoreError:
        return False
    await plan_revisit(ctx, question.id, msg.sent_at)
    await same_question.answer_linked(
        ctx,
        question,
        ctx.official.id,
        msg.text,
        rating_hint(ctx, question.platform),
        msg.sent_at,
    )
    ctx.reply(
        f"{question.number} 已答复。{rating_hint(ctx, question.platform)}",
        reply_to=msg.message_id,
        buttons=rating_buttons(question),
    )
    return True
