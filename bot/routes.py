"""Declared routes: what each handler answers to, who may use it and in which chats.

Observers run on every event (recording group talk, membership, edits) and never consume it. Then the
first route that matches gets the event:

* a **command** route answers to a command of ``bot.commands.COMMANDS`` (slash or Chinese words);
* a **button** route answers to button presses whose data starts with its prefix;
* a **message** route answers to plain messages its predicate accepts (an addressed question, a
  rating word, a reply to a resident's question …), tried in the order of the table.

A command or button used by someone whose role the route does not admit gets the polite refusal, once,
from the dispatcher; a command typed in a chat the route does not serve gets the route's note. For
message routes the roles and chats are part of matching: someone else's message simply goes on to the
next route. A command declared with ``private_answer`` shows more than the asker's own ticket: typed in a
group it gets ``PRIVATE_NOTE`` there and nothing else (the dispatcher enforces it). A staff route's handler receives a ``StaffContext`` whose ``official`` is never None.
``/help`` and the Telegram menu are made from these declarations and the command table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.commands import COMMAND_SPECS
from bot.events import EventKind, MenuCommand
from bot.work import EVERYONE, RESIDENTS, STAFF, SUPERVISORS, Context, Role


class ChatType(StrEnum):
    """Where a route may be used."""

    GROUP = "group"
    PRIVATE = "private"


ANY_CHAT = frozenset(ChatType)
GROUPS = frozenset({ChatType.GROUP})
PRIVATE = frozenset({ChatType.PRIVATE})

PRIVATE_NOTE = "该命令涉及其他人的信息，请私聊机器人使用。"
"""What a command answered only in private chats says when typed in a group."""

PrivateAnswer = bool | Callable[[Context], Awaitable[bool]]
"""``True`` (always answered privately), or an async predicate: True when this use of the command in a
group would show more than the asker's own ticket."""

RouteHandler = Callable[[Any], Awaitable[bool | None]]
"""Takes a ``Context`` (a ``StaffContext`` for staff routes). A message route may return False after
a closer look ("not mine after all"), and the next route is tried; anything else ends the event."""


def chat_type(ctx: Context) -> ChatType:
    """The type of the event's chat."""
    return ChatType.GROUP if ctx.message.chat.is_group else ChatType.PRIVATE


@dataclass(frozen=True, slots=True)
class Route:
    """One handler and what it answers to. Build with ``command``, ``button`` or ``message``."""

    name: str
    handler: RouteHandler
    command: str | None = None
    button: str | None = None
    accepts: Callable[[Context], bool] | None = None
    roles: frozenset[Role] = EVERYONE
    chats: frozenset[ChatType] = ANY_CHAT
    wrong_chat: str = ""
    """What a command used in a chat it does not serve is told."""
    private_answer: PrivateAnswer = False
    """Whether the answer shows more than the asker's own ticket (then never in a group)."""
    audited: bool = True
    """Whether staff using the route get a line in the audit log (refusals always do)."""

    @property
    def staff_only(self) -> bool:
        """True when only staff may use the route (its handler gets a ``StaffContext``)."""
        return self.roles <= STAFF

    async def must_answer_privately(self, ctx: Context) -> bool:
        """True when this event, typed in a group, may not be answered there (``PRIVATE_NOTE``)."""
        if not ctx.message.chat.is_group or self.private_answer is False:
            return False
        if self.private_answer is True:
            return True
        return await self.private_answer(ctx)

    def triggered_by(self, ctx: Context) -> bool:
        """True when the event is addressed to this route (before roles and chats are checked)."""
        message = ctx.message
        if self.command is not None:
            return ctx.command is not None and ctx.command.name == self.command
        if self.button is not None:
            press = message.button
            return (
                message.kind is EventKind.BUTTON
                and press is not None
                and (press.data.startswith(self.button))
            )
        return (
            self.accepts is not None
            and ctx.role in self.roles
            and chat_type(ctx) in self.chats
            and self.accepts(ctx)
        )


def command(
    name: str,
    handler: RouteHandler,
    *,
    roles: frozenset[Role] = EVERYONE,
    chats: frozenset[ChatType] = ANY_CHAT,
    wrong_chat: str = "",
    private_answer: PrivateAnswer = False,
    audited: bool = True,
) -> Route:
    """A route for the command ``name`` (which must be in ``bot.commands.COMMANDS``).

    ``audited=False``: staff using it are not recorded in the audit log (``/help``); refusals are.

    ``private_answer``: the answer shows more than the asker's own ticket (other groups' questions,
    residents' contacts, figures), so in a group the sender only gets ``PRIVATE_NOTE``; a predicate
    decides per use (``/status`` of one's own ticket may be answered in the group)."""
    if name not in COMMAND_SPECS and name != "unknown":
        raise ValueError(f"command {name!r} is not in the command table")
    return Route(
        name,
        handler,
        command=name,
        roles=roles,
        chats=chats,
        wrong_chat=wrong_chat,
        private_answer=private_answer,
        audited=audited,
    )


def button(prefix: str, handler: RouteHandler, *, roles: frozenset[Role] = EVERYONE) -> Route:
    """A route for button presses whose data starts with ``prefix``."""
    return Route(f"button {prefix}", handler, button=prefix, roles=roles)


def message(
    name: str,
    handler: RouteHandler,
    accepts: Callable[[Context], bool],
    *,
    roles: frozenset[Role] = EVERYONE,
    chats: frozenset[ChatType] = ANY_CHAT,
    audited: bool = False,
) -> Route:
    """A route for plain messages ``accepts`` takes, from ``roles`` in ``chats``; ``audited``: staff
    whose message it takes are recorded in the audit log (answers are; chat is not)."""
    return Route(name, handler, accepts=accepts, roles=roles, chats=chats, audited=audited)


@dataclass(frozen=True, slots=True)
class Observer:
    """Runs on every event it ``applies`` to, before the routes; never consumes it."""

    name: str
    handler: Callable[[Context], Awaitable[None]]
    applies: Callable[[Context], bool]


class RouteTable:
    """The observers and routes, in order; what ``/help`` and the command menu are made from."""

    def __init__(self, observers: Sequence[Observer], routes: Sequence[Route]) -> None:
        self.observers = tuple(observers)
        self.routes = tuple(routes)
        seen: set[str] = set()
        for route in self.routes:
            if route.command is not None:
                if route.command in seen:
                    raise ValueError(f"two routes answer the command {route.command!r}")
                seen.add(route.command)

    def command_route(self, name: str) -> Route | None:
        """The route that answers the command ``name``."""
        return next((r for r in self.routes if r.command == name), None)

    def roles_of(self, name: str) -> frozenset[Role]:
        """Who may use the command ``name`` (nobody when no route answers it)."""
        route = self.command_route(name)
        return route.roles if route is not None else frozenset()

    def usage(self, role: Role) -> tuple[list[str], list[str], list[str]]:
        """Help lines a person of ``role`` sees: (everyone's, staff's, supervisors') commands."""
        sections: tuple[list[str], list[str], list[str]] = ([], [], [])
        for spec in COMMAND_SPECS.values():
            roles = self.roles_of(spec.name)
            if not spec.usage or role not in roles:
                continue
            if roles >= RESIDENTS:
                sections[0].append(spec.usage)
            elif roles <= SUPERVISORS:
                sections[2].append(spec.usage)
            else:
                sections[1].append(spec.usage)
        return sections

    def menu(self) -> list[MenuCommand]:
        """The platform command menu: residents' commands in groups, every command in private."""
        return [
            MenuCommand(
                spec.name,
                spec.menu,
                in_groups=Role.RESIDENT in self.roles_of(spec.name),
                in_private=True,
            )
            for spec in COMMAND_SPECS.values()
            if spec.menu and self.roles_of(spec.name)
        ]


def refusal(route: Route) -> str:
    """The polite refusal for someone whose role ``route`` does not admit."""
    if route.roles <= SUPERVISORS:
        who = "督查人员"
    elif route.roles <= STAFF:
        who = "工作人员"
    else:
        who = "居民"
    return f"抱歉，该命令仅限{who}使用。发送「帮助」查看您可以使用的命令。"
