"""Residents rate an answer: 满意 / 基本满意 / 不满意, by button, by a bare word, or ``/rate Q12 满意``.

Only the asker may rate. 满意 and 基本满意 resolve the question; 不满意 reopens it and tells the official.
A bare 1 / 2 / 3 (WeChat's numbered choices) counts as a rating only while the sender has an answer
waiting for a rating in that chat; otherwise it is ordinary talk.
"""

from __future__ import annotations

from bot.commands import parse_question_number, parse_rating
from bot.dispatch import Context
from bot.events import EventKind
from handlers.common import RATING_CODES, RATING_LABELS, tell_official
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
    store = ctx.services.store
    sender = ctx.message.sender
    refused = refusal(question, sender.platform, sender.user_id)
    if refused is not None:
        return False, REFUSALS[refused].format(number=question.number)
    state, note = outcome(score)
    try:
        await ctx.services.db(
            store.record_rating,
            question.id,
            platform=sender.platform,
            user_id=sender.user_id,
            score=score,
            at=ctx.now,
        )
        by = (sender.platform, sender.user_id)
        updated = await ctx.services.db(
            store.transition, question.id, state, at=ctx.now, by=by, note=note
        )
    except StoreError as exc:
        return False, explain(exc)
    if updated.state == QuestionState.REOPENED:
        assignee = (
            await ctx.services.db(store.official, updated.assignee_id)
            if updated.assignee_id is not None
            else None
        )
        if assignee is not None:
            await tell_official(
                ctx,
                assignee,
                f"【{updated.number} 不满意】居民对答复不满意，问题已重新打开，请继续跟进：\n{updated.text}",
                prefer=updated.platform,
            )
        return True, f"很抱歉答复未能让您满意，{updated.number} 已重新打开，工作人员会继续跟进。"
    return True, f"感谢您的评价（{RATING_LABELS[score]}）！{updated.number} 已办结。"


class RateButtonHandler:
    """A tap on 满意 / 基本满意 / 不满意 under an answer."""

    async def __call__(self, ctx: Context) -> bool:
        press = ctx.message.button
        if ctx.message.kind is not EventKind.BUTTON or press is None:
            return False
        if not press.data.startswith("rate:"):
            return False
        try:
            _, number, code = press.data.split(":")
            score = RATING_CODES[code]
            question = await ctx.services.db(ctx.services.store.question, int(number))
        except (ValueError, KeyError):
            await ctx.answer_button("按钮已失效。")
            return True
        if question is None:
            await ctx.answer_button("问题不存在。")
            return True
        accepted, text = await apply_rating(ctx, question, score)
        await ctx.answer_button(text[:190])
        if accepted:
            await ctx.reply(text, reply_to=press.message_id)
        return True


class RateTextHandler:
    """A typed rating: ``满意`` (quoting the answer or not), ``/rate Q12 不满意``, or ``1`` / ``2`` / ``3``."""

    async def __call__(self, ctx: Context) -> bool:
        msg = ctx.message
        if msg.kind is not EventKind.MESSAGE or ctx.is_staff:
            return False
        command = ctx.command
        store = ctx.services.store
        if command is not None and command.name == "rate":
            number = parse_question_number(command.args[0]) if command.args else None
            score = parse_rating(" ".join(command.args[1:])) if len(command.args) > 1 else None
            if number is None or score is None:
                await ctx.reply("评价格式：/rate Q12 满意（可选：满意 / 基本满意 / 不满意）。")
                return True
            question = await ctx.services.db(store.question, number)
        else:
            text = ctx.text.strip()
            score = parse_rating(text)
            if score is None and text in DIGIT_RATINGS:
                score = DIGIT_RATINGS[text]
            if score is None:
                return False
            question = None
            if msg.reply_to_message_id:
                question = await ctx.services.db(
                    store.question_for_message,
                    msg.platform,
                    msg.chat.chat_id,
                    msg.reply_to_message_id,
                )
            if question is None:
                # An unquoted 满意 rates the asker's latest answered question in this chat.
                mine = await ctx.services.db(
                    store.questions_of_asker, msg.platform, msg.sender.user_id
                )
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
        if question is None:
            await ctx.reply("没有找到该问题。")
            return True
        _, reply = await apply_rating(ctx, question, score)
        await ctx.reply(reply)
        return True
