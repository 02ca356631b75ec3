"""Helpers the handlers share: permission checks, local time, reaching officials, rendering answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from datetime import datetime
from enum import StrEnum

from bot.commands import parse_question_number
from bot.dispatch import Context, NoSender, Role
from bot.events import Button, DeliveryUncertain, OutgoingMessage, SentMessage, Undeliverable
from bot.templating import TemplateError
from bot.text import Prediction
from storage import OfficialInfo, QuestionInfo

log = logging.getLogger(__name__)

STAFF = frozenset({Role.OFFICIAL, Role.SUPERVISOR, Role.ADMIN})
SUPERVISORS = frozenset({Role.SUPERVISOR, Role.ADMIN})

RATING_LABELS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
RATING_CODES = {"s": "satisfied", "b": "basically_satisfied", "u": "unsatisfied"}
STATE_LABELS = {
    "open": "待答复",
    "answered": "已答复，待评价",
    "resolved": "已办结",
    "transferred": "已转办，待答复",
    "reopened": "已重新打开，待答复",
    "closed": "已关闭",
}


async def require(ctx: Context, roles: frozenset[Role]) -> bool:
    """True when the sender has one of ``roles``; otherwise a polite refusal and False."""
    if ctx.role in roles:
        return True
    who = "督查人员" if roles == SUPERVISORS else "工作人员"
    await ctx.reply(f"抱歉，该命令仅限{who}使用。发送「帮助」查看您可以使用的命令。")
    return False


def local_time(ctx: Context, moment: datetime) -> str:
    """``11月23日 14:30`` in the configured zone."""
    local = moment.astimezone(ctx.services.settings.bot.zone)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def duration(seconds: float) -> str:
    """A short Chinese duration: ``3分钟``, ``2小时5分钟``, ``1天3小时``."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "不到1分钟"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}天" if days else "", f"{hours}小时" if hours else ""]
    if not days:
        parts.append(f"{mins}分钟" if mins else "")
    return "".join(parts)


def clip(text: str, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, for one-line previews."""
    return text if len(text) <= limit else text[:limit] + "…"


def template_variables(
    ctx: Context, question: QuestionInfo, official: OfficialInfo | None
) -> dict[str, object]:
    """The variables every reply template may use (templates/README.md documents them)."""
    settings = ctx.services.settings
    return {
        "resident_name": question.asker_name or "居民朋友",
        "question_number": question.number,
        "question_text": question.text,
        "due_at": local_time(ctx, question.due_at),
        "deadline_hours": round(settings.bot.answer_deadline_hours),
        "department": question.department or (official.department if official else ""),
        "official_name": official.name if official else "",
        "official_department": official.department if official else "",
        "group_name": question.group_title,
        "bot_name": settings.bot.name,
        "hotline": settings.bot.hotline,
    }


def render_template(
    ctx: Context, template_id: str, question: QuestionInfo, official: OfficialInfo | None
) -> str | None:
    """Render a reply template for a question; None (and a log line) when the template is broken."""
    try:
        return ctx.services.templates.render(
            template_id, **template_variables(ctx, question, official)
        )
    except (TemplateError, KeyError):
        log.exception("template %s could not be rendered for %s", template_id, question.number)
        return None


def rank_templates(ctx: Context, question: QuestionInfo, k: int = 3) -> list[str]:
    """Ids of the ``k`` best templates for a question."""
    # The record handler already classified this very text; classifying costs milliseconds.
    known = ctx.state.get("intent")
    if isinstance(known, Prediction) and ctx.state.get("intent_text") == question.text:
        analysis = known
    else:
        analysis = ctx.services.text.intent(question.text)
    ranked = ctx.services.ranker.rank(
        question.text,
        k=k,
        intent=analysis.label if analysis.confident else None,
        department=question.department or None,
    )
    return [r.id for r in ranked]


def private_address(
    official: OfficialInfo, platforms: Sequence[str], prefer: str
) -> tuple[str, str] | None:
    """(platform, user id) to reach an official privately: the preferred platform first."""
    connected = [(p, u) for p, u in official.identities if p in platforms]
    connected.sort(key=lambda pair: pair[0] != prefer)
    return connected[0] if connected else None


class Delivery(StrEnum):
    """How a send that must not stop its handler ended (see ``send_or_log``)."""

    SENT = "sent"
    UNCERTAIN = "uncertain"
    """The connection broke after the message went out: it may be posted, and is never sent again."""
    FAILED = "failed"
    """Refused, no adapter for the platform, or still failing after the adapter's retries."""


async def send_or_log(
    what: str, sending: Awaitable[SentMessage]
) -> tuple[Delivery, SentMessage | None]:
    """Await ``sending`` (a ``ctx.send``/``ctx.reply``); a failure is logged, naming ``what`` was sent,
    and reported instead of raised — for messages whose loss must not undo what the handler did first."""
    try:
        return Delivery.SENT, await sending
    except DeliveryUncertain as exc:
        log.warning("%s may not have arrived: %s", what, exc)
        return Delivery.UNCERTAIN, None
    except (NoSender, Undeliverable) as exc:
        log.warning("could not send %s: %s", what, exc)
        return Delivery.FAILED, None
    except Exception:
        log.exception("could not send %s", what)
        return Delivery.FAILED, None


async def tell_official(
    ctx: Context,
    official: OfficialInfo,
    text: str,
    *,
    prefer: str,
    buttons: Sequence[Sequence[Button]] = (),
) -> bool:
    """Send a private message to an official on a connected platform; False if unreachable.

    Never raises. A message the platform may or may not have delivered counts as sent (sending again
    could alert twice); one that failed counts as not sent — whatever the caller did first stands, and
    the overdue check catches up later."""
    address = private_address(official, ctx.dispatcher.platforms, prefer)
    if address is None:
        log.warning("official %s has no identity on a connected platform", official.name)
        return False
    platform, user_id = address
    delivery, _ = await send_or_log(
        f"private message to official {official.name}",
        ctx.send(
            OutgoingMessage(
                platform=platform,
                chat_id=user_id,
                text=text,
                buttons=tuple(tuple(row) for row in buttons),
                is_private=True,
            )
        ),
    )
    return delivery is not Delivery.FAILED


def to_asker(
    question: QuestionInfo, text: str, buttons: Sequence[Sequence[Button]] = ()
) -> OutgoingMessage:
    """A message in the question's chat that quotes the question and @-mentions whoever asked it."""
    return OutgoingMessage(
        platform=question.platform,
        chat_id=question.chat_id,
        text=text,
        reply_to_message_id=question.platform_message_id,
        mention_user_ids=(question.asker_user_id,),
        buttons=tuple(tuple(row) for row in buttons),
        is_private=question.group_id is None,
    )


def rating_buttons(question: QuestionInfo) -> list[list[Button]]:
    """满意 / 基本满意 / 不满意 buttons for an answer (callback data well under 64 bytes)."""
    return [
        [
            Button(label, f"rate:{question.id}:{code}")
            for code, label in (("s", "满意"), ("b", "基本满意"), ("u", "不满意"))
        ]
    ]


def question_number_arg(ctx: Context) -> int | None:
    """The first argument of the command read as a question number (``Q12`` or ``12``)."""
    if ctx.command is None or not ctx.command.args:
        return None
    return parse_question_number(ctx.command.args[0])
