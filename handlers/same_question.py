"""同问 — one problem, one ticket.

A question @-addressed to the bot whose topic (``handlers.record.message_topic``) is that of a ticket
still waiting for an answer, asked within ``[opinion] duplicate_hours`` in the same group or in a group
listed with it in ``[opinion] nearby_groups`` (its own group's first), is linked to it: it gets a
number of its own (its asker may rate), the same promised time and assignee, and the resident is told
in their group that it is already handled under the ticket's number and will get the answer too. The
ticket's handlers (and, for a nearby group's ticket, the asker's group's officials) hear how many
have asked. Only area-wide topics (停水, 停电 …) can match across groups: a facility's topic key
names its group (``bot.text.topics``). When the ticket is answered, the answer is posted to every
linked asker (each with rating buttons) and recorded for each question once it is posted
(``same_question.answered``). Officials link and unlink by hand: ``/link Q12 Q15``, ``/unlink Q15``,
within their scope (``handlers.scope``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from bot.commands import parse_question_number
from bot.outbox import Delivered, Delivery, effect
from bot.text.hot_topics import question_phrases
from bot.work import Context, FollowUp, StaffContext, Work
from handlers import scope
from handlers.common import clip, rating_buttons, signature, tell_official, to_asker, work_of
from handlers.record import message_topic
from storage import OfficialInfo, QuestionInfo, QuestionState, StoreError

log = logging.getLogger(__name__)

LINK_USAGE = "用法：/link Q12 Q15 — 将 Q15 并入 Q12 一并办理；/unlink Q15 — 取消关联。"


def chats_to_search(ctx: Context) -> list[tuple[str, str]]:
    """The asker's own chat, then the groups listed with it in ``[opinion] nearby_groups``."""
    msg = ctx.message
    own = f"{msg.platform}:{msg.chat.chat_id}"
    nearby = ctx.settings.opinion.nearby(own)
    return [(msg.platform, msg.chat.chat_id)] + [
        (platform, chat_id) for platform, _, chat_id in (g.partition(":") for g in nearby)
    ]


async def join_open_ticket(ctx: Context) -> bool:
    """Link the event's question to an open ticket on the same topic, of its group or of a nearby
    one, if there is one: acknowledge it as such in the asker's group and tell the ticket's handlers
    (and, for a nearby ticket, the asker's group's officials). False when there is none."""
    key = message_topic(ctx)
    if key is None:
        return False
    msg = ctx.message
    since = ctx.now - timedelta(hours=ctx.settings.opinion.duplicate_hours)
    ticket = await ctx.db(ctx.store.open_ticket_on_topic, chats_to_search(ctx), key, since)
    if ticket is None:
        return False
    question = await ctx.db(
        ctx.store.open_question,
        platform=msg.platform,
        chat_id=msg.chat.chat_id,
        chat_title=msg.chat.title,
        is_group=msg.chat.is_group,
        platform_message_id=msg.message_id,
        asker_id=msg.sender.user_id,
        asker_name=msg.sender.display_name,
        text=ctx.text,
        department=ticket.department,
        department_confident=ticket.department_confident,
        created_at=ctx.now,
        due_at=ticket.due_at,
        assignee_id=ticket.assignee_id,
        phrases=question_phrases(ctx.text),
        duplicate_of_id=ticket.id,  # a ticket linked to none, and the new question has no followers
        message_row_id=ctx.stored.id if ctx.stored is not None else None,
    )
    askers = await askers_of(ctx, ticket)
    elsewhere = (ticket.platform, ticket.chat_id) != (msg.platform, msg.chat.chat_id)
    # A nearby group's ticket is named with its group: the resident has not seen that number here.
    where = f"附近「{ticket.group_title}」的" if elsewhere else ""
    ctx.reply(
        f"您反映的问题与{where} {ticket.number} 相同，已在 {ticket.number} 中一并办理"
        f"（已有 {askers} 位居民反映），答复时会同时通知您。"
        f"您的编号 {question.number}，可发送「进度 {question.number}」查询。",
        reply_to=msg.message_id,
        mention=True,
        what=f"the acknowledgement of {question.number} (同问 {ticket.number})",
        follow_up=FollowUp("ask.acknowledged", {"question": question.id}),
    )
    await tell_handlers(
        ctx,
        ticket,
        f"【同问】{ticket.number} 又有居民问到（共 {askers} 人同问，{question.number} 已并入）："
        f"\n［{question.group_title}］{question.asker_name}：{clip(question.text)}",
        also_of=question if elsewhere else None,
    )
    return True


async def askers_of(at: Context | Work, ticket: QuestionInfo) -> int:
    """How many residents asked a ticket's question: its own asker and every linked one."""
    work = work_of(at)
    return 1 + await work.db(work.store.linked_count, ticket.id)


async def tell_handlers(
    ctx: Context, ticket: QuestionInfo, text: str, also_of: QuestionInfo | None = None
) -> None:
    """Tell the ticket's assignee privately (with no assignee, the officials of its group); with
    ``also_of``, a question of another group, that group's officials too (once each)."""
    store = ctx.store
    assignee = (
        await ctx.db(store.official, ticket.assignee_id) if ticket.assignee_id is not None else None
    )
    targets = [assignee] if assignee is not None else await _group_officials(ctx, ticket)
    if also_of is not None:
        targets += await _group_officials(ctx, also_of)
    for official in {o.id: o for o in targets}.values():
        tell_official(ctx, official, text, prefer=ticket.platform)


async def _group_officials(ctx: Context, question: QuestionInfo) -> list[OfficialInfo]:
    """The officials (not supervisors) who answer for the question's group."""
    officials = await ctx.db(ctx.store.officials_for_group, question.platform, question.chat_id)
    return [o for o in officials if o.role not in scope.SUPERVISING_ROLES]


async def answer_linked(
    at: Context | Work, ticket: QuestionInfo, official_id: int, text: str, hint: str, when: datetime
) -> int:
    """Post the ticket's answer to every linked asker still waiting (each with rating buttons);
    each is recorded once posted. ``hint``: how to rate. Returns how many were queued."""
    work = work_of(at)
    official = await work.db(work.store.official, official_id)
    if official is None:
        return 0
    waiting = [
        q
        for q in await work.db(work.store.linked_questions, ticket.id)
        if q.state in QuestionState.WAITING
    ]
    for q in waiting:
        work.send(
            to_asker(
                q,
                f"【{q.number} 答复】（与 {ticket.number} 同问）{text}\n{signature(official)}\n{hint}",
                rating_buttons(q),
            ),
            what=f"the answer to {q.number} (同问 {ticket.number})",
            follow_up=FollowUp(
                "same_question.answered",
                {"question": q.id, "official": official_id, "text": text, "at": when.isoformat()},
            ),
        )
    return len(waiting)


@effect("same_question.answered")
async def answered(work: Work, delivered: Delivered, args: dict[str, Any]) -> None:
    """Record a linked question as answered once its answer is posted."""
    if delivered.outcome is not Delivery.SENT or delivered.sent is None:
        log.warning(
            "the 同问 answer to Q%s was not posted (%s)", args["question"], delivered.outcome
        )
        return
    try:
        await work.db(
            work.store.answer_question,
            args["question"],
            official_id=args["official"],
            text=args["text"],
            at=datetime.fromisoformat(args["at"]),
            answer_platform_message_id=delivered.sent.message_id,
        )
    except StoreError:
        log.exception("the 同问 answer to Q%s could not be recorded", args["question"])


async def _questions(ctx: StaffContext, words: tuple[str, ...]) -> list[QuestionInfo] | None:
    """The questions ``words`` name, each in the official's scope; None (the official told) if not."""
    found = []
    for word in words:
        number = parse_question_number(word)
        if number is None:
            ctx.reply(LINK_USAGE)
            return None
        question = await scope.ticket_in_scope(ctx, number)
        if question is None:
            return None
        found.append(question)
    return found


async def link(ctx: StaffContext) -> None:
    """``/link Q12 Q15`` (同问): Q15 is handled under Q12; answering Q12 answers its asker too."""
    assert ctx.command is not None
    words = ctx.command.args
    if len(words) != 2:
        ctx.reply(LINK_USAGE)
        return
    found = await _questions(ctx, words)
    if found is None:
        return
    ticket, question = found
    if ticket.id == question.id:
        ctx.reply("请写两个不同的问题编号。" + LINK_USAGE)
        return
    if question.state not in QuestionState.WAITING:
        ctx.reply(f"{question.number} 已答复或已办结，无需并入。")
        return
    joined = await ctx.db(ctx.store.link_question, question.id, ticket.id)
    askers = await askers_of(ctx, joined)
    ctx.reply(
        f"已将 {question.number} 并入 {joined.number} 办理（共 {askers} 位居民同问），"
        f"答复 {joined.number} 时会同时答复 {question.number}。"
    )
    ctx.send(
        to_asker(
            question,
            f"您的问题 {question.number} 与 {joined.number} 相同，已并入 {joined.number} 一并办理，"
            "答复时会同时通知您。",
        ),
        what=f"the news that {question.number} joined {joined.number}",
    )


async def unlink(ctx: StaffContext) -> None:
    """``/unlink Q15``: Q15 is a ticket of its own again."""
    assert ctx.command is not None
    words = ctx.command.args
    if len(words) != 1:
        ctx.reply(LINK_USAGE)
        return
    found = await _questions(ctx, words)
    if found is None:
        return
    (question,) = found
    was = await ctx.db(ctx.store.unlink_question, question.id)
    if was is None:
        ctx.reply(f"{question.number} 没有并入其他问题。")
        return
    ctx.reply(f"已取消 {question.number} 与 Q{was} 的关联，{question.number} 单独办理。")
