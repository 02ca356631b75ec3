"""Who may act on which ticket: the one rule every staff action on a question goes through.

An official may answer (``/reply``, a suggestion button, a bare number, a reply on the platform),
transfer, ``/suggest``, ``/ticket`` and read (``/status``) only a question of a group they are assigned
to, a question assigned to them, or a question of their department. A supervisor's jurisdiction is the
same: the groups assigned to them on the roster and their department's questions (``/unmask`` too).
Admins may act on any. The store gives the facts (``Store.groups_of``); ``may_act`` decides; ``check``
tells a refused official privately and marks the event refused in the audit log.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol

from bot.work import Context, StaffContext, Work
from handlers.common import question_number_arg, tell_official, work_of
from storage import GroupInfo, Jurisdiction, OfficialInfo, QuestionInfo

UNRESTRICTED_ROLES = frozenset({"admin"})
"""Roles that may act on every ticket; everyone else only within their groups and department."""
SUPERVISING_ROLES = frozenset({"supervisor", "admin"})
"""Roles that oversee groups rather than handle their residents' messages (a supervisor's groups are
their jurisdiction, not their work)."""
OUT_OF_SCOPE = (
    "抱歉，{number}不属于您负责的群、部门或承办事项，您不能处理。如需协助请联系督查人员。"
)


class Subject(Protocol):
    """What the rule looks at in a question (a ``QuestionInfo``, or a message about to become one)."""

    @property
    def platform(self) -> str: ...

    @property
    def chat_id(self) -> str: ...

    @property
    def department(self) -> str: ...

    @property
    def assignee_id(self) -> int | None: ...


def may_act(
    official: OfficialInfo, question: Subject, official_groups: Collection[tuple[str, str]]
) -> bool:
    """True when ``official`` may act on ``question``. ``official_groups``: the (platform, chat id)
    of every group the official is assigned to."""
    if official.role in UNRESTRICTED_ROLES:
        return True
    if question.assignee_id is not None and question.assignee_id == official.id:
        return True
    if (question.platform, question.chat_id) in official_groups:
        return True
    return bool(official.department) and question.department == official.department


async def within(ctx: Context, official: OfficialInfo, question: Subject) -> bool:
    """``may_act`` with the official's groups looked up."""
    groups = await ctx.db(ctx.store.groups_of, official.id)
    return may_act(official, question, {(g.platform, g.chat_id) for g in groups})


def jurisdiction(official: OfficialInfo) -> Jurisdiction | None:
    """What ``official`` may see figures of: admins everything (None), a supervisor the groups
    assigned to them and their department."""
    return (
        None
        if official.role in UNRESTRICTED_ROLES
        else Jurisdiction(official.id, official.department)
    )


async def jurisdiction_groups(at: Context | Work, official: OfficialInfo) -> list[GroupInfo]:
    """The groups of ``official``'s jurisdiction (``jurisdiction``): for an admin every group the bot
    knows, for a supervisor the groups assigned to them (what ``/broadcast`` reaches)."""
    work = work_of(at)
    within = jurisdiction(official)
    if within is None:
        return await work.db(work.store.all_groups)
    return await work.db(work.store.groups_of, within.official_id)


async def ticket_in_scope(ctx: StaffContext, number: int) -> QuestionInfo | None:
    """Ticket ``Q{number}`` when it exists and lies in the official's scope; otherwise None, the
    official told privately why (not found, or not theirs: ``check``)."""
    question = await ctx.db(ctx.store.question, number)
    if question is None:
        ctx.reply(f"没有找到问题 Q{number}。")
        return None
    if not await check(ctx, question, question.number):
        return None
    return question


async def ticket_and_reason(ctx: StaffContext, usage: str) -> tuple[QuestionInfo, str] | None:
    """``/command Q12 原因…``: the ticket (``ticket_in_scope``) and the words after its number; None,
    the official told, when either is missing (``usage``) or the ticket is not theirs."""
    assert ctx.command is not None
    number = question_number_arg(ctx)
    reason = " ".join(ctx.command.args[1:])
    if number is None or not reason:
        ctx.reply(usage)
        return None
    question = await ticket_in_scope(ctx, number)
    return (question, reason) if question is not None else None


async def check(ctx: StaffContext, question: Subject, number: str) -> bool:
    """``may_act`` for the event's official; a refused official is told privately (on the button
    they pressed, in the private chat, or by a private message when they typed in a group), nothing
    is posted anywhere else, and the audit log records the refusal. ``number``: how the question is
    named (``Q12``)."""
    ctx.audit.subject = number if number.startswith("Q") else ctx.audit.subject
    if await within(ctx, ctx.official, question):
        return True
    ctx.audit.refuse("out of scope")
    refuse(ctx, OUT_OF_SCOPE.format(number=number))
    return False


def refuse(ctx: Context, text: str) -> None:
    """Tell the sender ``text`` where nobody else sees it."""
    msg = ctx.message
    if msg.button is not None:
        ctx.answer_button(text[:190])
    elif msg.chat.is_group and ctx.official is not None:
        tell_official(ctx, ctx.official, text, prefer=msg.platform)
    else:
        ctx.reply(text, quote=False)
