"""Handlers: one capability each, found by the dispatcher through the route table below.

Observers run on every event they apply to; then the first route that matches gets the event (see
``bot.routes``). Each route declares what it answers to and who may use it where; ``/help`` and the
Telegram command menu are made from these declarations. To add a command: add it to
``bot.commands.COMMANDS``, write the handler, and declare its route here (docs/ARCHITECTURE.md).

Handlers import the neutral events, the unit of work and context (``bot.work``), the outbox's follow-up
registry, text services, templating and the store — never a platform SDK or an adapter.
"""

from __future__ import annotations

from bot.routes import GROUPS, PRIVATE, Observer, RouteTable, button, command, message
from bot.work import EVERYONE, RESIDENTS, STAFF, SUPERVISORS
from handlers import anonymous, answer, ask, bind, help, lurk, rate, record, speak, status, suggest
from handlers import broadcast as broadcast_
from handlers import case as case_
from handlers import extension as extension_
from handlers import history as history_
from handlers import opinion as opinion_
from handlers import registry as registry_
from handlers import returns as returns_
from handlers import same_question as same_question_
from handlers import schedule as schedule_
from handlers import summary as summary_
from handlers import transfer as transfer_
from handlers import unaddressed as unaddressed_
from handlers import unmask as unmask_
from handlers import visit as visit_

OBSERVERS = (
    Observer("membership", record.membership, record.is_membership),
    Observer("edit", record.edit, record.is_edit),
    Observer("record", record.record, record.is_group_talk),
    Observer("bind code", bind.guard_code, bind.is_bind),
    Observer("opinion", opinion_.watch, opinion_.is_topical),
    Observer("unaddressed", unaddressed_.watch, unaddressed_.is_unaddressed_complaint),
    Observer("registry", registry_.register, registry_.is_suggestion),
)

ROUTES = (
    message("anonymous sender", anonymous.anonymous_sender, anonymous.is_anonymous),
    button("pick:", answer.pick_button, roles=STAFF),
    button("rate:", rate.rate_button),
    command("bind", bind.bind, chats=PRIVATE, wrong_chat=bind.IN_GROUP),
    command("help", help.show_help, audited=False),
    command("start", help.show_help, audited=False),
    command("unknown", help.unknown_command, audited=False),
    command("status", status.status, private_answer=status.about_others),
    command("rate", rate.rate_command, roles=RESIDENTS),
    command("suggest", suggest.suggest, roles=STAFF),
    command("reply", answer.reply, roles=STAFF),
    command(
        "ticket", ask.promote_to_ticket, roles=STAFF, chats=GROUPS, wrong_chat=ask.TICKET_USAGE
    ),
    command("transfer", transfer_.transfer, roles=STAFF),
    command("speak", speak.speak, roles=STAFF),
    command("digest", lurk.digest, roles=STAFF, private_answer=True),
    command("summary", summary_.summary, roles=SUPERVISORS, private_answer=True),
    command("unmask", unmask_.unmask, roles=SUPERVISORS, private_answer=True),
    command("history", history_.history, roles=STAFF, private_answer=True),
    command("extend", extension_.extend, roles=STAFF, private_answer=True),
    command("approve", extension_.approve, roles=SUPERVISORS, private_answer=True),
    command("return", returns_.return_ticket, roles=STAFF, private_answer=True),
    command("visit", visit_.visit, roles=STAFF, private_answer=True),
    command("case", case_.register_case, roles=STAFF, chats=PRIVATE, wrong_chat=case_.IN_GROUP),
    command("close", case_.close, roles=STAFF, private_answer=True),
    command("link", same_question_.link, roles=STAFF, private_answer=True),
    command("unlink", same_question_.unlink, roles=STAFF, private_answer=True),
    command("adopt", registry_.adopt, roles=STAFF, chats=GROUPS, wrong_chat=registry_.IN_PRIVATE),
    command("suggestion", registry_.change, roles=STAFF),
    command("suggestions", registry_.listing, roles=SUPERVISORS, private_answer=True),
    command("schedule", schedule_.listing, roles=STAFF, private_answer=True),
    command("cancel", schedule_.cancel, roles=STAFF, private_answer=True),
    command("broadcast", broadcast_.broadcast, roles=SUPERVISORS, private_answer=True),
    message("typed rating", rate.rate_text, rate.is_rating, roles=RESIDENTS),
    message(
        "pick by number",
        answer.reply,
        answer.is_bare_pick,
        roles=STAFF,
        chats=PRIVATE,
        audited=True,
    ),
    message(
        "answer by replying",
        answer.platform_reply,
        answer.is_platform_reply,
        roles=STAFF,
        chats=GROUPS,
        audited=True,
    ),
    message("question", ask.ask, ask.is_question_to_the_bot, roles=RESIDENTS, chats=GROUPS),
    message(
        "official's chat", record.official_chat, record.is_stored_talk, roles=STAFF, chats=GROUPS
    ),
    message(
        "private talk", help.private_fallback, help.is_private_talk, roles=EVERYONE, chats=PRIVATE
    ),
)


def default_routes() -> RouteTable:
    """The observers and routes minyi runs with."""
    return RouteTable(OBSERVERS, ROUTES)
