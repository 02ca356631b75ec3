"""Helpers the handlers share: local time, reaching officials, rendering and ranking answers.

They take a ``Context`` (an event being handled) or a ``Work`` (a unit of work without an event: a
timer's, a follow-up's); both carry the services and queue sends in their unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.commands import parse_question_number
from bot.events import Button, OutgoingMessage
from bot.templating import TemplateError
from bot.work import Analysis, Context, FollowUp, Services, Work
from storage import OfficialInfo, QuestionInfo

log = logging.getLogger(__name__)

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


class HasServices(Protocol):
    """A ``Context`` or a ``Work``."""

    @property
    def services(self) -> Services: ...


def work_of(at: Context | Work) -> Work:
    """The unit of work of a context (or the unit itself)."""
    return at.work if isinstance(at, Context) else at


def local_time(at: HasServices, moment: datetime) -> str:
    """``11月23日 14:30`` in the configured zone."""
    local = moment.astimezone(at.services.settings.bot.zone)
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


def signature(official: OfficialInfo) -> str:
    """``——张伟（住房和城乡建设局）``, under answers and announcements."""
    return f"——{official.name}" + (f"（{official.department}）" if official.department else "")


def template_variables(
    at: HasServices, question: QuestionInfo, official: OfficialInfo | None
) -> dict[str, object]:
    """The variables every reply template may use (templates/README.md documents them)."""
    settings = at.services.settings
    return {
        "resident_name": question.asker_name or "居民朋友",
        "question_number": question.number,
        "question_text": question.text,
        "due_at": local_time(at, question.due_at),
        "deadline_hours": round(settings.bot.answer_deadline_hours),
        "department": question.department or (official.department if official else ""),
        "official_name": official.name if official else "",
        "official_department": official.department if official else "",
        "group_name": question.group_title,
        "bot_name": settings.bot.name,
        "hotline": settings.bot.hotline,
    }


def render_template(
    at: HasServices, template_id: str, question: QuestionInfo, official: OfficialInfo | None
) -> str | None:
    """Render a reply template for a question; None (and a log line) when the template is broken."""
    try:
        return at.services.templates.render(
            template_id, **template_variables(at, question, official)
        )
    except (TemplateError, KeyError):
        log.exception("template %s could not be rendered for %s", template_id, question.number)
        return None


def rank_templates(
    services: Services, question: QuestionInfo, analysis: Analysis | None = None, k: int = 3
) -> list[str]:
    """Ids of the ``k`` best templates for a question (``analysis``: the event's, when it is the
    question's own text, so it is not classified twice)."""
    if analysis is not None and analysis.text == question.text:
        intent = analysis.intent
    else:
        intent = services.text.intent(question.text)
    ranked = services.ranker.rank(
        question.text,
        k=k,
        intent=intent.label if intent.confident else None,
        department=question.department or None,
    )
    return [r.id for r in ranked]


_UNREACHABLE: set[str] = set()
"""Officials ``tell_official`` warned of (no identity on a connected platform)."""


def private_address(
    official: OfficialInfo, platforms: Sequence[str], prefer: str
) -> tuple[str, str] | None:
    """(platform, user id) to reach an official privately: the preferred platform first."""
    connected = [(p, u) for p, u in official.identities if p in platforms]
    connected.sort(key=lambda pair: pair[0] != prefer)
    return connected[0] if connected else None


def tell_official(
    at: Context | Work,
    official: OfficialInfo,
    text: str,
    *,
    prefer: str,
    buttons: Sequence[Sequence[Button]] = (),
    follow_up: FollowUp | None = None,
) -> bool:
    """Queue a private message to an official on a connected platform; False (logged) when the
    official has no identity there. Whether it arrives, ``follow_up`` hears."""
    work = work_of(at)
    address = private_address(official, work.platforms, prefer)
    if address is None:
        # Once per official and process: every alert of a burst would say it again.
        level = logging.DEBUG if official.name in _UNREACHABLE else logging.WARNING
        _UNREACHABLE.add(official.name)
        log.log(level, "official %s has no identity on a connected platform", official.name)
        return False
    platform, user_id = address
    work.send(
        OutgoingMessage(
            platform=platform,
            chat_id=user_id,
            text=text,
            buttons=tuple(tuple(row) for row in buttons),
            is_private=True,
        ),
        what=f"private message to official {official.name}",
        follow_up=follow_up,
    )
    return True


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
