"""``minyi ticket show Q12 [--format table|json]`` and ``minyi ticket list [--state …] [--department …]
[--overdue]``: tickets and their history for administrators, read from the store."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from bot.commands import parse_question_number
from bot.config import Settings


class TicketCommandError(ValueError):
    """A mistyped ticket command, phrased as one line (the CLI exits with its usage code)."""


def run_ticket(args: argparse.Namespace, settings: Settings) -> None:
    """``ticket show`` · ``ticket list`` on the database of ``settings`` (known to exist)."""
    from handlers.history import format_history, format_ticket_list, history_json
    from storage import QuestionState, Store, make_engine, upgrade

    zone = settings.bot.zone
    engine = make_engine(settings.database.url)
    try:
        upgrade(engine)
        store = Store(engine)
        if args.action == "show":
            number = parse_question_number(args.number)
            question = store.question(number) if number is not None else None
            if question is None:
                raise TicketCommandError(f"{args.number}: no such ticket (numbers look like Q12)")
            steps = store.history(question.id)
            if args.format == "json":
                print(history_json(question, steps, zone))
            else:
                print(format_history(question, steps, zone, masked=True))
            return
        unknown = [s for s in args.state or () if s not in QuestionState.ALL]
        if unknown:
            states = ", ".join(sorted(QuestionState.ALL))
            raise TicketCommandError(f"--state {unknown[0]}: not a state (one of {states})")
        found = store.list_tickets(
            now=datetime.now(UTC),
            states=tuple(args.state or ()),
            department=args.department or "",
            overdue=args.overdue,
        )
        sys.stdout.write(format_ticket_list(found, zone) + "\n")
    finally:
        engine.dispose()


def add_subcommands(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
    func: Callable[[argparse.Namespace], int],
) -> None:
    """Add ``ticket show`` and ``ticket list`` to ``subparsers``, run by ``func``."""
    from bot.cli_help import examples
    from storage.records import QuestionState

    ticket = subparsers.add_parser(
        "ticket",
        help="a ticket's history, or a list of tickets",
        **examples("minyi ticket show Q12", "minyi ticket list --state open --overdue"),
    )
    actions = ticket.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="every step of a ticket with time, actor and note",
        **examples("minyi ticket show Q12", "minyi ticket show Q12 --format json | jq ."),
    )
    show.add_argument("number", help="the ticket, e.g. Q12")
    show.add_argument("--format", choices=("table", "json"), default="table")
    listing = actions.add_parser(
        "list",
        help="tickets, newest first",
        **examples(
            "minyi ticket list",
            "minyi ticket list --state open --state reopened --department 交通运输局",
            "minyi ticket list --overdue",
            before="states: " + ", ".join(sorted(QuestionState.ALL)),
        ),
    )
    listing.add_argument("--state", action="append", help="open, answered, … (repeatable)")
    listing.add_argument("--department", help="only this department's tickets")
    listing.add_argument("--overdue", action="store_true", help="only tickets past their deadline")
    ticket.set_defaults(func=func)
