"""The dispatcher: resolve who is speaking, then run the handlers in order until one consumes the event.

Adapters call ``Dispatcher.handle(incoming)``; handlers get a ``Context`` with the message, the sender's
role, the shared ``Services`` and ways to talk back. A handler returns ``True`` to stop the chain. A
handler that raises is logged and the person gets a short apology in Chinese, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, ParamSpec, Protocol, TypeVar

from bot.commands import Command, parse_command, strip_mention
from bot.events import (
    Button,
    EventKind,
    IncomingMessage,
    OutgoingMessage,
    Sender,
    SentMessage,
    event_key,
)
from storage import StoreUnavailable

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.templating import TemplateLibrary
    from bot.text import TemplateRanker, TextAnalyzer
    from storage import OfficialInfo, Store

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class Role(StrEnum):
    """What a sender may do. Residents are everyone not on the roster."""

    RESIDENT = "resident"
    OFFICIAL = "official"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


@dataclass
class Services:
    """Everything handlers share, built once by the composition root (``bot.app``)."""

    settings: Settings
    store: Store
    text: TextAnalyzer
    templates: TemplateLibrary
    ranker: TemplateRanker
    clock: Callable[[], datetime] = utcnow
    bot_usernames: dict[str, str] = field(default_factory=dict)
    """Platform → the bot's own handle there (``telegram`` → ``minyi_bot``)."""
    _executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="minyi-db")
    )

    async def db(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a store call off the event loop; one worker thread keeps database work in order."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Stop the database worker thread."""
        self._executor.shutdown(wait=True)


class Handler(Protocol):
    """One capability. Return ``True`` when the event is fully handled and later handlers must not run."""

    async def __call__(self, ctx: Context) -> bool | None: ...


class NoSender(RuntimeError):
    """Raised when a message must go to a platform no adapter is connected for."""


@dataclass
class Context:
    """One event on its way through the handlers."""

    message: IncomingMessage
    role: Role
    official: OfficialInfo | None
    services: Services
    dispatcher: Dispatcher
    text: str
    """The message text with any @-mention of the bot removed."""
    addressed: bool
    """True when the bot was @-mentioned (by handle or by a configured alias) or the chat is private."""
    command: Command | None
    state: dict[str, object] = field(default_factory=dict)
    """Scratch space handlers use to pass facts down the chain (e.g. the stored message id)."""
    sent: list[SentMessage] = field(default_factory=list)

    @property
    def now(self) -> datetime:
        """The services' clock (UTC)."""
        return self.services.clock()

    @property
    def is_staff(self) -> bool:
        """True for officials, supervisors and admins."""
        return self.role is not Role.RESIDENT

    async def reply(
        self,
        text: str,
        *,
        buttons: Sequence[Sequence[Button]] = (),
        quote: bool = True,
        mention: bool = False,
        reply_to: str | None = None,
    ) -> SentMessage:
        """Answer in the chat the event came from; in groups quote the message (or ``reply_to``)."""
        msg = self.message
        quoted = reply_to or (msg.message_id if quote and msg.chat.is_group else None)
        return await self.send(
            OutgoingMessage(
                platform=msg.platform,
                chat_id=msg.chat.chat_id,
                text=text,
                reply_to_message_id=quoted,
                mention_user_ids=(msg.sender.user_id,) if mention and msg.chat.is_group else (),
                buttons=tuple(tuple(row) for row in buttons),
                is_private=not msg.chat.is_group,
            )
        )

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Post any message through the adapter of its platform."""
        sent = await self.dispatcher.send(message)
        self.sent.append(sent)
        return sent

    async def answer_button(self, notice: str | None = None) -> None:
        """Acknowledge the button press this event carries (no-op for other events)."""
        if self.message.button is not None:
            await self.dispatcher.sender_for(self.message.platform).answer_button(
                self.message.button, notice
            )


STORE_RETRY_FIRST = 0.5
"""Seconds before the first retry of a store call during a database outage (doubling each time)."""
STORE_RETRY_MAX = 30.0
"""The longest pause between retries."""


class Dispatcher:
    """Runs handlers in order for each incoming event and routes outgoing messages to adapters."""

    def __init__(
        self,
        services: Services,
        handlers: Sequence[Handler],
        *,
        store_patience: float = 600.0,
    ) -> None:
        """``store_patience``: how many seconds an event waits out a database outage before it is
        given up (logged); events wait in order, so nothing is handled twice or out of turn."""
        self.services = services
        self.handlers = list(handlers)
        self.store_patience = store_patience
        self._senders: dict[str, Sender] = {}

    def connect(self, sender: Sender, bot_username: str | None = None) -> None:
        """Register the adapter that sends for ``sender.platform``."""
        self._senders[sender.platform] = sender
        if bot_username:
            self.services.bot_usernames[sender.platform] = bot_username

    def sender_for(self, platform: str) -> Sender:
        """The adapter for ``platform``; ``NoSender`` when none is connected."""
        try:
            return self._senders[platform]
        except KeyError:
            raise NoSender(f"no adapter is connected for platform {platform!r}") from None

    @property
    def platforms(self) -> list[str]:
        """Platforms with a connected adapter."""
        return list(self._senders)

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Post ``message`` through the adapter of its platform."""
        return await self.sender_for(message.platform).send(message)

    def build_context(self, message: IncomingMessage, official: OfficialInfo | None) -> Context:
        """Strip the bot's @-mention and parse a command, for a sender already resolved."""
        services = self.services
        role = Role(official.role) if official is not None else Role.RESIDENT
        names = [*services.settings.bot.aliases]
        handle = services.bot_usernames.get(message.platform)
        if handle:
            names.append(handle)
        text, alias_mentioned = strip_mention(message.text, names)
        addressed = message.mentions_bot or alias_mentioned or message.is_private
        command = None
        if message.kind is EventKind.MESSAGE and (addressed or text.startswith(("/", "／"))):
            command = parse_command(text, handle)
        return Context(
            message=message,
            role=role,
            official=official,
            services=services,
            dispatcher=self,
            text=text,
            addressed=addressed,
            command=command,
        )

    async def handle(self, message: IncomingMessage) -> Context | None:
        """Run the handler chain for one event; returns the context (what was sent, for tests).

        Events from bots and events already handled (a redelivery after a restart) return ``None``.
        """
        if message.sender.is_bot:
            return None
        services = self.services
        key = event_key(message)
        # Until the event is claimed nothing has happened, so a database outage here is waited out
        # (and the claim tried again) instead of losing what the resident said.
        first_time = await self._patiently(
            key, services.store.claim_event, message.platform, key, services.clock()
        )
        if not first_time:
            log.info("skipping %s event %s: handled before", message.platform, key)
            return None
        official = await self._patiently(
            key, services.store.official_for_identity, message.platform, message.sender.user_id
        )
        ctx = self.build_context(message, official)
        for handler in self.handlers:
            try:
                if await handler(ctx):
                    break
            except Exception:
                log.exception(
                    "handler %s failed on %s message %s",
                    type(handler).__name__,
                    message.platform,
                    message.message_id,
                )
                await self._apologise(ctx)
                break
        return ctx

    async def _patiently(
        self, key: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """``services.db(fn, …)``, repeated with growing pauses while the database is unavailable
        (``StoreUnavailable``), for up to ``store_patience`` seconds; then the error is raised."""
        pause, waited = STORE_RETRY_FIRST, 0.0
        while True:
            try:
                return await self.services.db(fn, *args, **kwargs)
            except StoreUnavailable as exc:
                if waited >= self.store_patience:
                    log.error("%s; gave up on event %s after %.0f s", exc, key, waited)
                    raise
                log.warning("%s; event %s waits %.1f s", exc, key, pause)
                await asyncio.sleep(pause)
                waited += pause
                pause = min(pause * 2, STORE_RETRY_MAX)

    async def _apologise(self, ctx: Context) -> None:
        try:
            await ctx.reply("抱歉，处理您的消息时出现问题，已记录，工作人员会尽快处理。")
        except Exception:
            log.exception("could not send the apology")
