"""Residents rate an answer: 满意 / 基本满意 / 不满意, by button, by a bare word, or ``/rate Q12 满意``.

Only the asker may rate. 满意 and 基本满意 resolve the question; 不满意 reopens it and tells the official.
A bare 1 / 2 / 3 (WeChat's numbered choices) counts as a rating only while the sender has an answer
waiting for a rating in that chat; otherwise it is ordinary talk.
"""

from __future__ import annotations

from bot.commands import parse_question_number, parse_rating
from bot.events import EventKind
from bot.work import Context
from handlers import deadlines
from handlers.common import RATING_CODES, RATING_LABELS, local_time, tell_official
from handlers.rating_rules import Refusal, outcome, refusal
from handlers.store_messages import explain
from storage import QuestionInfo, QuestionState, StoreError

DIGIT_RATINGS = {"1": "satisfied", "2": "basically_satisfied", "3": "unsatisfied"}
REFUSALS = {
    Refusal.NOT_THE_ASKER: "只有提问的居民可以评价这条答复。",
    Refusal.NOT_ANSWERED: "{number} 还没有答复，答复后再评价。",
}


async def apply_rating(ctx: Context, question: QuestionInfo, score: str) -> tuple[bool, str]:
    """Store the rating; returns (accepted, what to tell the resident)."""
    sender = ctx.message.sender
    refused = refusal(question, sender.platform, sender.user_id)
    if refused is not None:
        return False, REFUSALS[refused].format(number=question.number)
    state, note = outcome(score)
    try:
        await ctx.db(
            ctx.store.record_rating,
            question.id,
            platform=sender.platform,
            user_id=sender.user_id,
            score=score,
            at=ctx.now,
        )
        by = (sender.platform, sender.user_id)
        updated = await ctx.db(
            ctx.store.transition, question.id, state, at=ctx.now, by=by, note=note
        )
    except StoreError as exc:
        return False, explain(exc)
    if updated.state == QuestionState.REOPENED:
        # A reopened ticket is a new wait: a fresh deadline, and its 督办 stages start again.
        updated = await deadlines.restart(ctx, updated)
        assignee = (
            await ctx.db(ctx.store.official, updated.assignee_id)
            if updated.assignee_id is not None
            else None
        )
        if assignee is not None:
            tell_official(
                ctx,
                assignee,
                f"【{updated.number} 不满意】居民对答复不满意，问题已重新打开，请继续跟进：\n{updated.text}",
                prefer=updated.platform,
            )
        return True, (
            f"很抱歉答复未能让您满意，{updated.number} 已重新打开，工作人员会继续跟进，"
            f"将于 {local_time(ctx, updated.due_at)} 前答复。"
        )
    return True, f"感谢您的评价（{RATING_LABELS[score]}）！{updated.number} 已办结。"


async def rate_button(ctx: Context) -> None:
    """A tap on 满意 / 基本满意 / 不满意 under an answer."""
    press = ctx.message.button
    assert press is not None
    try:
        _, number, code = press.data.split(":")
        score = RATING_CODES[code]
        question = await ctx.db(ctx.store.question, int(number))
    except (ValueError, KeyError):
        ctx.answer_button("按钮已失效。")
        return
    if question is None:
        ctx.answer_button("问题不存在。")
        return
    accepted, text = await apply_rating(ctx, question, score)
    ctx.answer_button(text[:190])
    if accepted:
        ctx.reply(text, reply_to=press.message_id)


async def rate_command(ctx: Context) -> None:
    """``/rate Q12 不满意``."""
    assert ctx.command is not None
    args = ctx.command.args
    number = parse_question_number(args[0]) if args else None
    score = parse_rating(" ".join(args[1:])) if len(args) > 1 else None
    if number is None or score is None:
        ctx.reply("评价格式：/rate Q12 满意（可选：满意 / 基本满意 / 不满意）。")
        return
    question = await ctx.db(ctx.store.question, number)
    if question is None:
        ctx.reply("没有找到该问题。")
        return
    _, text = await apply_rating(ctx, question, score)
    ctx.reply(text)


def typed_rating(ctx: Context) -> str | None:
    """The score a plain message gives (满意 …, or a bare 1 / 2 / 3), if any."""
    text = ctx.text.strip()
    return parse_rating(text) or DIGIT_RATINGS.get(text)


def is_rating(ctx: Context) -> bool:
    """A plain message that reads as a rating."""
    return (
        ctx.message.kind is EventKind.MESSAGE
        and ctx.command is None
        and typed_rating(ctx) is not None
    )


async def rate_text(ctx: Context) -> bool:
    """A typed rating, quoting the answer or not. False when the sender has nothing to rate here
    (the message is then ordinary talk)."""
    msg = ctx.message
    score = typed_rating(ctx)
    assert score is not None
    question = None
    if msg.reply_to_message_id:
        question = await ctx.db(
            ctx.store.question_for_message, msg.platform, msg.chat.chat_id, msg.reply_to_message_id
        )
    if question is None:
        # An unquoted 满意 rates the asker's latest answered question in this chat.
        mine = await ctx.db(ctx.store.questions_of_asker, msg.platform, msg.sender.user_id)
        question = next(
            (
                q
                for q in mine
                if q.chat_id == msg.chat.chat_id and q.state == QuestionState.ANSWERED
            ),
            None,
        )
    if question is None:
        return False
    _, text = await apply_rating(ctx, question, score)
    ctx.reply(text)
    return True
