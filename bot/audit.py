"""The audit log's one writer: after a route has handled an event, record who did what from which chat.

Recorded: every event a staff member's audited route took (commands, buttons, answers), and every event
whose ``AuditNote`` a refusal, a failure or an unmasked view marked — whoever sent it. The line is
written through the event's store, so it commits with (or rolls back with) everything else the event
did. What was typed is kept with residents' personal data masked (``bot.text.privacy``).
"""

from __future__ import annotations

from bot.commands import parse_question_number
from bot.routes import Route
from bot.text.privacy import mask
from bot.work import Context
from storage import AuditOutcome, AuditRecord

DETAIL_CHARS = 300


def should_record(ctx: Context, route: Route) -> bool:
    """True when this event earns a line: a marked outcome, or a staff member's audited route."""
    return bool(ctx.audit.outcome) or (ctx.is_staff and route.audited)


def subject_of(ctx: Context) -> str:
    """The ticket the event is about, as far as its words say (``Q12``), or ``""``."""
    if ctx.audit.subject:
        return ctx.audit.subject
    press = ctx.message.button
    if press is not None:
        parts = press.data.split(":")
        return f"Q{parts[1]}" if len(parts) > 1 and parts[1].isdigit() else ""
    if ctx.command is not None and ctx.command.args:
        first = ctx.command.args[0]
        number = parse_question_number(first) if not first.isdigit() else None
        return f"Q{number}" if number is not None else ""
    return ""


def audit_record(ctx: Context, route: Route) -> AuditRecord:
    """The line for this event."""
    msg = ctx.message
    typed = msg.button.data if msg.button is not None else ctx.text
    if ctx.audit.detail is not None:
        typed = ctx.audit.detail
    return AuditRecord(
        at=ctx.now,
        actor=f"{msg.platform}:{msg.sender.user_id}",
        actor_name=msg.sender.display_name,
        official_id=ctx.official.id if ctx.official is not None else None,
        role=ctx.role.value,
        chat=f"{msg.platform}:{msg.chat.chat_id}",
        in_group=msg.chat.is_group,
        action=route.name,
        subject=subject_of(ctx),
        outcome=ctx.audit.outcome or AuditOutcome.DONE,
        reason=ctx.audit.reason,
        detail=mask(typed)[:DETAIL_CHARS],
    )


async def record(ctx: Context, route: Route) -> None:
    """Write the event's line, if it earns one, in the event's unit of work."""
    if should_record(ctx, route):
        await ctx.db(ctx.store.record_audit, audit_record(ctx, route))
