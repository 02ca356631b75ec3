"""The Telegram adapter: python-telegram-bot 22 on one side, minyi's neutral events on the other.

This is the only module of minyi that imports ``telegram``. It has two halves:

* pure conversion — ``to_incoming`` (an ``Update`` → an ``IncomingMessage``, or ``None`` for
  updates minyi ignores), ``to_markup`` (button rows → an inline keyboard) and ``split_text``
  (texts longer than Telegram's 4096 characters → parts);
* ``TelegramAdapter`` — receives updates by long polling or a webhook and hands them to the
  journal, and posts what the dispatcher sends, respecting Telegram's flood limits
  (``FloodLimiter``), retrying 429 answers and network errors (but never re-sending a message
  Telegram may already have posted), and keeping the bot token out of every log record.

Journal first: Telegram keeps an update until it is confirmed, and the confirmation is the next
``getUpdates`` call with an ``offset`` past it (in webhook mode: a 2xx answer). The adapter confirms
an update only after ``journal`` has committed it, so a crash loses nothing: Telegram delivers the
unconfirmed updates again and the journal drops repeats by their key. PTB's ``Updater`` confirms a
batch as soon as it has fetched it and cannot get past an update it fails to parse, so the adapter
drives ``getUpdates`` itself (with PTB's ``Bot`` for every API call) and serves its own webhook.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import tornado.httpserver
import tornado.netutil
import tornado.web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
    User,
)
from telegram import Chat as TgChat
from telegram.constants import ChatType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.adapters.shared import (
    REDACTOR,
    KeyedLocks,
    RateLimiter,
    Taken,
    Turns,
    install_redaction,
)
from bot.events import (
    Button,
    ButtonPress,
    Chat,
    DeliveryUncertain,
    EventKind,
    IncomingMessage,
    Journal,
    MenuCommand,
    OutgoingMessage,
    Person,
    Platform,
    Received,
    SentMessage,
    Undeliverable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

PLATFORM = Platform.TELEGRAM.value
MAX_TEXT_LENGTH = 4096
"""Telegram's limit for one message, counted here in UTF-16 code units (never above characters)."""
MAX_CALLBACK_DATA_BYTES = 64
MAX_NOTICE_LENGTH = 200
"""answerCallbackQuery shows at most 200 characters."""
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
"""Member joins/leaves arrive as service ``message`` updates: these three cover all minyi uses."""
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
"""The header in which Telegram repeats the webhook's ``secret_token``."""
MAX_WEBHOOK_BODY = 1 << 20
"""An update is a few kilobytes at most; a larger body is not Telegram's."""
UPDATES_READ_MARGIN = 5.0
"""Seconds a getUpdates answer may take beyond its long-poll timeout (PTB's default)."""
MAX_BACKOFF = 30.0
"""The longest pause between attempts to fetch updates or to journal them."""
REDACTED_LOGGERS = ("telegram", "httpx", "httpcore", "tornado", __name__)
"""Loggers (and all their children) whose records never show the token or the webhook secret."""


def _secrets(token: str, webhook_secret: str | None) -> list[str]:
    """What to keep out of logs: the token, its secret half (in case the colon was URL-encoded)
    and the webhook secret."""
    return [token, token.partition(":")[2], webhook_secret or ""]


class TelegramStartError(RuntimeError):
    """The adapter could not start (bad token, unreachable API, bad webhook settings).

    The message never contains the token.
    """


# --------------------------------------------------------------------------- pure conversion


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_lone_surrogates(data: Any) -> Any:
    """``data`` with every lone surrogate (``"\\ud800"`` in the JSON, which no UTF-8 or UTF-16 text can
    hold) replaced by U+FFFD, so the update is read like any other; the journal keeps the raw update.
    Both are one UTF-16 unit, so entity offsets stay right. Pairs were already joined by the JSON
    decoder."""
    if isinstance(data, str):
        return _LONE_SURROGATE.sub("\ufffd", data) if _LONE_SURROGATE.search(data) else data
    if isinstance(data, dict):
        return {key: _without_lone_surrogates(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_without_lone_surrogates(value) for value in data]
    return data


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_person(user: User) -> Person:
    """A Telegram user as a neutral ``Person``; the display name is the full name."""
    return Person(
        platform=PLATFORM,
        user_id=str(user.id),
        display_name=user.full_name,
        is_bot=bool(user.is_bot),
    )


def to_chat(chat: TgChat) -> Chat | None:
    """A Telegram chat as a neutral ``Chat``; ``None`` for channels (minyi sits in groups)."""
    if chat.type == ChatType.CHANNEL:
        return None
    is_group = chat.type in (ChatType.GROUP, ChatType.SUPERGROUP)
    title = chat.title if is_group else chat.full_name
    return Chat(
        platform=PLATFORM,
        chat_id=str(chat.id),
        title=title or "",
        is_group=is_group,
    )


def _message_text(message: Message) -> tuple[str, dict[MessageEntity, str]] | None:
    if message.text is not None:
        return message.text, message.parse_entities(
            [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
        )
    if message.caption is not None:
        return message.caption, message.parse_caption_entities(
            [MessageEntity.MENTION, MessageEntity.TEXT_MENTION]
        )
    return None


def _mentions(entities: dict[MessageEntity, str], bot_username: str) -> bool:
    handle = bot_username.lstrip("@").lower()
    if not handle:
        return False
    for entity, value in entities.items():
        if entity.type == MessageEntity.MENTION and value.lstrip("@").lower() == handle:
            return True
        if (
            entity.type == MessageEntity.TEXT_MENTION
            and entity.user is not None
            and (entity.user.username or "").lower() == handle
        ):
            return True
    return False


def _reply_fields(message: Message) -> tuple[str | None, str | None, str | None]:
    """(reply_to_message_id, reply_to_sender_id, reply_to_text) of ``message``."""
    replied = message.reply_to_message
    # In forum supergroups every message of a topic "replies" to the topic's creation message.
    if replied is None or replied.forum_topic_created is not None:
        return None, None, None
    return (
        str(replied.message_id),
        str(replied.from_user.id) if replied.from_user else None,
        replied.text if replied.text is not None else replied.caption,
    )


def _button_event(query: CallbackQuery, now: datetime | None) -> IncomingMessage | None:
    carrier = query.message
    if carrier is None or query.data is None:
        return None  # inline-mode messages and game buttons: minyi sends neither
    chat = to_chat(carrier.chat)
    if chat is None:
        return None
    reply = _reply_fields(carrier) if isinstance(carrier, Message) else (None, None, None)
    message_id = str(carrier.message_id)
    return IncomingMessage(
        platform=PLATFORM,
        chat=chat,
        sender=to_person(query.from_user),
        message_id=message_id,
        text="",
        sent_at=_utc(now),
        kind=EventKind.BUTTON,
        button=ButtonPress(press_id=str(query.id), data=query.data, message_id=message_id),
        reply_to_message_id=reply[0],
        reply_to_sender_id=reply[1],
        reply_to_text=reply[2],
    )


def to_incoming(
    update: Update,
    bot_username: str,
    aliases: Sequence[str] = (),
    *,
    now: datetime | None = None,
) -> IncomingMessage | None:
    """Convert one update; ``None`` for updates minyi ignores.

    Ignored: channel posts, messages without text or caption (stickers, photos without a caption),
    messages from bots (other than member joins/leaves, which are kept whoever caused them), group
    migrations, inline-mode button presses. ``aliases`` are accepted for symmetry with other
    adapters; the dispatcher checks them (the text is left intact). ``now`` stamps button presses,
    which carry no time of their own (default: the current time).
    """
    del aliases  # checked by the dispatcher
    if update.callback_query is not None:
        return _button_event(update.callback_query, now)
    if update.message is not None:
        message, kind = update.message, EventKind.MESSAGE
    elif update.edited_message is not None:
        message, kind = update.edited_message, EventKind.EDITED
    else:
        return None
    chat = to_chat(message.chat)
    author = message.from_user
    if chat is None or author is None:
        return None
    sender = to_person(author)
    edited = kind is EventKind.EDITED and message.edit_date is not None
    sent_at = _utc(message.edit_date if edited else message.date)
    joined = tuple(to_person(u) for u in message.new_chat_members or ())
    left = message.left_chat_member
    if kind is EventKind.MESSAGE and (joined or left is not None):
        return IncomingMessage(
            platform=PLATFORM,
            chat=chat,
            sender=sender,
            message_id=str(message.message_id),
            text="",
            sent_at=sent_at,
            kind=EventKind.MEMBER_JOINED if joined else EventKind.MEMBER_LEFT,
            members=joined if joined else (to_person(left),) if left is not None else (),
        )
    if author.is_bot:
        if message.sender_chat is None or message.sender_chat.id != message.chat.id:
            return None  # another bot, or a linked channel's post
        # An administrator posting "as the group": Telegram keeps who it is to itself.
        sender = Person(
            platform=PLATFORM,
            user_id=f"anonymous{message.chat.id}",
            display_name=message.author_signature or "匿名管理员",
            anonymous=True,
        )
    body = _message_text(message)
    if body is None:
        return None
    text, entities = body
    reply_id, reply_sender, reply_text = _reply_fields(message)
    return IncomingMessage(
        platform=PLATFORM,
        chat=chat,
        sender=sender,
        message_id=str(message.message_id),
        text=text,
        sent_at=sent_at,
        kind=kind,
        mentions_bot=_mentions(entities, bot_username),
        reply_to_message_id=reply_id,
        reply_to_sender_id=reply_sender,
        reply_to_text=reply_text,
    )


def to_markup(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """Button rows → an inline keyboard; ``ValueError`` when a button's data exceeds 64 bytes."""
    keyboard = []
    for row in rows:
        buttons = []
        for button in row:
            size = len(button.data.encode("utf-8"))
            if not button.data or size > MAX_CALLBACK_DATA_BYTES:
                raise ValueError(
                    f"button {button.label!r}: callback data must be 1-{MAX_CALLBACK_DATA_BYTES} "
                    f"bytes of UTF-8, got {size}"
                )
            buttons.append(InlineKeyboardButton(text=button.label, callback_data=button.data))
        if buttons:
            keyboard.append(buttons)
    return InlineKeyboardMarkup(keyboard) if keyboard else None


def _units(text: str) -> int:
    """Length in UTF-16 code units, the way Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, limit: int) -> int:
    """The largest index ``i`` with ``_units(text[:i]) <= limit`` (never splitting a character)."""
    if _units(text) <= limit:
        return len(text)
    units, index = 0, 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def split_text(text: str, limit: int = MAX_TEXT_LENGTH) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` UTF-16 units, on line boundaries if possible.

    A line longer than the limit is cut at the last space before the limit, else hard. Parts are
    never empty; an empty text gives one empty part (Telegram would refuse it).
    """
    if _units(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while _units(rest) > limit:
        cut = _cut(rest, limit)
        head = rest[:cut]
        newline = head.rfind("\n")
        if newline > 0:
            parts.append(head[:newline])
            rest = rest[newline + 1 :]
            continue
        space = head.rfind(" ")
        if space > cut // 2:
            parts.append(head[:space])
            rest = rest[space + 1 :]
            continue
        parts.append(head)
        rest = rest[cut:]
    if rest:
        parts.append(rest)
    return [p for p in parts if p] or [""]


# --------------------------------------------------------------------------- flood limits


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Telegram's flood limits: messages per group per window and messages overall per window."""

    per_group: int = 20
    per_group_window: float = 60.0
    overall: int = 30
    overall_window: float = 1.0
    margin: float = 0.05
    """Seconds added to each window: our clock starts before the request reaches Telegram."""


class FloodLimiter:
    """Queues sends so that no group gets more than ``per_group`` messages a minute and the bot
    sends no more than ``overall`` a second. Callers wait their turn (first come, first served);
    nothing is dropped. ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        limits: RateLimits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.limits = limits = limits or RateLimits()
        self.per_group = RateLimiter(
            limits.per_group, limits.per_group_window + limits.margin, clock=clock, sleep=sleep
        )
        self.overall = RateLimiter(
            limits.overall, limits.overall_window + limits.margin, clock=clock, sleep=sleep
        )

    async def acquire(self, chat_id: str, *, group: bool, taken: Taken | None = None) -> float:
        """Wait until a message to ``chat_id`` may go out; returns the seconds waited. ``taken``:
        where the slots counted are noted (``Turns``)."""
        if group:
            # The group's lock first, then the overall one: every caller keeps this order.
            return await self.per_group.acquire(chat_id, along=((self.overall, ""),), taken=taken)
        return await self.overall.acquire(taken=taken)

    def delay(self, chat_id: str, *, group: bool) -> float:
        """Seconds a message to ``chat_id`` would wait for its slot now (0: at once)."""
        overall = self.overall.delay()
        return max(self.per_group.delay(chat_id), overall) if group else overall


class _NoLimits(FloodLimiter):
    async def acquire(self, chat_id: str, *, group: bool, taken: Taken | None = None) -> float:
        return 0.0

    def delay(self, chat_id: str, *, group: bool) -> float:
        return 0.0


# --------------------------------------------------------------------------- the adapter


def _retry_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: Any = error.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)
"""Transport failures that happen before Telegram has the whole request: sending again is safe."""


def _may_have_arrived(error: NetworkError) -> bool:
    """True when Telegram may have acted on the request although no answer came back.

    PTB raises ``TimedOut`` / ``NetworkError`` *from* the httpx exception. A read timeout or a
    connection dropped while waiting for the answer means the request was sent whole; an error
    answer (a 5xx, no httpx cause) or a failure to connect or write means Telegram did not act on it.
    """
    cause = error.__cause__
    return isinstance(cause, httpx.TransportError) and not isinstance(cause, _NOT_SENT)


def _chat_arg(chat_id: str) -> int | str:
    """Telegram chat ids are integers; ``@channel`` names stay strings."""
    try:
        return int(chat_id)
    except ValueError:
        return chat_id


def _is_group_id(chat_id: str) -> bool:
    """Group, supergroup and channel ids are negative; a private chat's id is the user's id."""
    return chat_id.startswith("-")


def _describe(error: BaseException) -> str:
    """``Type: message`` of ``error`` without secrets, for a log line."""
    return f"{type(error).__name__}: {REDACTOR.redact(str(error))}"


class _RawBot(Bot):
    """PTB's ``Bot`` with a getUpdates that returns the updates as JSON, unparsed.

    ``Bot.get_updates`` parses the whole batch at once, so one update it cannot parse fails the
    batch, which is then fetched again forever. ``do_api_request("getUpdates")`` would warn that
    ``get_updates`` exists. This is ``get_updates`` minus the parsing, over the same dedicated
    connection (PTB's getUpdates request object).
    """

    async def get_raw_updates(
        self,
        offset: int | None,
        *,
        timeout: float,
        read_timeout: float,
        limit: int = 100,
    ) -> list[Any]:
        """The pending updates from ``offset`` on, as decoded JSON (confirming those below it)."""
        data: dict[str, Any] = {
            "offset": offset,
            "timeout": math.ceil(timeout),  # whole seconds in the Bot API
            "limit": limit,
            "allowed_updates": list(ALLOWED_UPDATES),
        }
        result = await self._post("getUpdates", data, read_timeout=read_timeout)
        if not isinstance(result, list):
            raise TelegramError(f"getUpdates answered {type(result).__name__}, not a list")
        return result


class _WebhookHandler(tornado.web.RequestHandler):
    """Serves Telegram's POSTs to the webhook path; the adapter decides the status."""

    def initialize(self, receive: Callable[[str | None, bytes], Awaitable[int]]) -> None:
        """``receive(secret header, body)`` journals the update and returns the HTTP status."""
        self._receive = receive

    async def post(self) -> None:
        """Answer only once the update is journaled (or refused)."""
        status = await self._receive(self.request.headers.get(SECRET_HEADER), self.request.body)
        self.set_status(status)


def _log_webhook_request(handler: tornado.web.RequestHandler) -> None:
    """Replaces tornado's access log (INFO per request): one DEBUG line, without the path."""
    log.debug("telegram: webhook %s answered %d", handler.request.method, handler.get_status())


class TelegramAdapter:
    """Connects one Telegram bot to minyi (the ``Sender`` protocol of ``bot.events``).

    Every update minyi uses goes to ``journal`` (``Dispatcher.receive``); Telegram is told it was
    received only after the journal has committed it. An update that cannot be read is journaled as
    unreadable and never holds up the ones after it. ``commands`` fill the command menus
    (setMyCommands) of groups and private chats.

    ``rate_limits=None`` lifts the flood limits (benchmarks against a local fake server only).
    ``max_retries`` bounds retries of network errors (exponential backoff from ``retry_backoff``
    seconds) and of 429 answers (each after the ``retry_after`` Telegram gives). A new message whose
    answer does not come within ``read_timeout`` seconds is not sent again (it may be posted
    already): ``send`` raises ``DeliveryUncertain``. Fetching updates and journaling them are retried
    without end, with the same backoff up to 30 s. ``sleep`` paces every retry (tests inject it).
    """

    platform = PLATFORM
    buttons = True

    def __init__(
        self,
        token: str,
        journal: Journal,
        *,
        commands: Sequence[MenuCommand] = (),
        base_url: str | None,
        aliases: Sequence[str],
        mode: str = "polling",
        webhook_listen: str = "127.0.0.1",
        webhook_port: int = 8443,
        webhook_url: str = "",
        webhook_secret: str | None = None,
        rate_limits: RateLimits | None = RateLimits(),
        limiter: FloodLimiter | None = None,
        max_retries: int = 5,
        retry_backoff: float = 0.5,
        poll_timeout: float = 10.0,
        stop_timeout: float = 30.0,
        connections: int = 16,
        read_timeout: float = 5.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError(f"telegram mode must be 'polling' or 'webhook', not {mode!r}")
        if mode == "webhook" and not webhook_url:
            raise ValueError("telegram webhook mode needs webhook_url (the public https URL)")
        install_redaction(_secrets(token, webhook_secret), REDACTED_LOGGERS)
        self._token = token
        self._journal = journal
        self.commands = tuple(commands)
        self.base_url = base_url
        self.aliases = tuple(aliases)
        self.mode = mode
        self.webhook_listen = webhook_listen
        self.webhook_port = webhook_port
        self.webhook_url = webhook_url
        self._webhook_secret = webhook_secret
        if limiter is not None:
            self.limiter = limiter
        elif rate_limits is None:
            self.limiter = _NoLimits()
        else:
            self.limiter = FloodLimiter(rate_limits, sleep=sleep)
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.poll_timeout = poll_timeout
        self.stop_timeout = stop_timeout
        self.connections = connections
        self.read_timeout = read_timeout
        self._sleep = sleep
        self.username = ""
        self.bot_id: int | None = None
        self._bot: _RawBot | None = None
        self._stopping = False
        self._poller: asyncio.Task[None] | None = None
        self._interruptible = False
        """True while the poller waits for Telegram or sleeps: ``stop`` may cancel it then."""
        self._offset: int | None = None
        """The next getUpdates offset: one past the last journaled update."""
        self._acknowledged: int | None = None
        """The offset of the last getUpdates Telegram answered (what it knows is confirmed)."""
        self._server: tornado.httpserver.HTTPServer | None = None
        self._inflight: set[asyncio.Future[None]] = set()
        """Webhook updates being journaled."""
        self._background: set[asyncio.Task[None]] = set()
        self._send_locks = KeyedLocks()
        self._turns = Turns(lanes=connections)  # a claimed send always has a connection
        self._seen_groups: set[str] = set()

    def __repr__(self) -> str:
        return f"TelegramAdapter(@{self.username or '?'}, mode={self.mode})"

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Connect: getMe, publish the command menus, then poll or serve the webhook; returns once
        updates are flowing. Raises ``TelegramStartError`` (without the token) when that fails."""
        if self._bot is not None:
            raise RuntimeError("the Telegram adapter is already started")
        if self.mode == "webhook" and not self._webhook_secret:
            raise TelegramStartError(
                "Telegram webhook mode needs a secret token, or anyone who learns the URL can post "
                "updates: set TELEGRAM_WEBHOOK_SECRET (the variable telegram.webhook_secret_env "
                "names) to 1-256 characters A-Z a-z 0-9 _ -"
            )
        options: dict[str, Any] = {"base_url": self.base_url} if self.base_url else {}
        bot = _RawBot(
            self._token,
            # A few kept-alive connections serve Telegram's 30 messages a second; more requests
            # wait their turn for a connection (instead of PTB's 1 s pool timeout failing them).
            request=HTTPXRequest(
                connection_pool_size=self.connections,
                pool_timeout=60.0,
                read_timeout=self.read_timeout,
            ),
            get_updates_request=HTTPXRequest(connection_pool_size=1),
            **options,
        )
        try:
            await bot.initialize()
        except TelegramError as exc:
            await bot.shutdown()  # close the HTTP clients getMe opened
            raise TelegramStartError(
                f"Telegram getMe failed: {REDACTOR.redact(str(exc))} "
                "(check the bot token and telegram.base_url)"
            ) from None
        self.username = bot.username
        self.bot_id = bot.id
        self._bot = bot
        self._stopping = False
        try:
            await self._publish_commands(bot)
            if self.mode == "webhook":
                await self._start_webhook(bot)
            else:
                await bot.delete_webhook(drop_pending_updates=False)
                self._poller = asyncio.create_task(self._poll(bot), name="telegram-polling")
                self._poller.add_done_callback(self._poller_ended)
        except (TelegramError, OSError) as exc:
            await self.close()
            raise TelegramStartError(
                f"Telegram {self.mode} could not start: {REDACTOR.redact(str(exc))}"
            ) from None
        log.info("telegram: @%s is receiving updates by %s", self.username, self.mode)

    async def _publish_commands(self, bot: Bot) -> None:
        for scope, wanted in (
            (BotCommandScopeAllGroupChats(), [c for c in self.commands if c.in_groups]),
            (BotCommandScopeAllPrivateChats(), [c for c in self.commands if c.in_private]),
        ):
            await bot.set_my_commands(
                [BotCommand(c.name, c.description) for c in wanted], scope=scope
            )

    async def stop(self) -> None:
        """Stop receiving: what was received is journaled (or left unconfirmed with Telegram, which
        delivers it again) when this returns. A long poll in progress is cancelled at once;
        journaling in progress may finish (up to ``stop_timeout`` seconds). Sending still works
        until ``close``."""
        bot = self._bot
        if bot is None or self._stopping:
            return
        self._stopping = True
        if self._poller is not None:
            await self._stop_polling(bot)
        if self._server is not None:
            await self._stop_webhook()
        log.info("telegram: @%s stopped receiving", self.username)

    async def close(self) -> None:
        """Stop receiving (if not yet), then close the HTTP connections; sending is over."""
        bot = self._bot
        if bot is None:
            return
        try:
            await self.stop()
            if self._background:  # quiet answers to button presses still on their way
                await asyncio.wait(self._background, timeout=self.stop_timeout)
        finally:
            self._bot = None
            await bot.shutdown()
        log.info("telegram: @%s closed", self.username)

    def _live_bot(self) -> _RawBot:
        if self._bot is None:
            raise RuntimeError("the Telegram adapter is not started")
        return self._bot

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background; ``stop`` waits for it."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _backoff(self, failures: int) -> float:
        return float(min(self.retry_backoff * 2 ** (failures - 1), MAX_BACKOFF))

    # ------------------------------------------------------------------ receiving

    def _read(self, data: Any, raw: str) -> tuple[Received | None, str | None]:
        """One update → its journal entry (``None`` when minyi ignores it) and, for an ignored
        button press, the press id to answer quietly (or the client's spinner goes on)."""
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if isinstance(update_id, int):
            key = f"update:{update_id}"
        else:
            key = "update:?" + hashlib.sha1(raw.encode("utf-8", "replace")).hexdigest()[:16]
        try:
            if not isinstance(data, dict):
                raise TypeError(f"an update is a JSON object, not {type(data).__name__}")
            update = Update.de_json(_without_lone_surrogates(data), self._bot)
            self._note_migration(update)
            incoming = to_incoming(update, self.username, self.aliases)
        except Exception as exc:
            # Kept as poison in the journal: visible, and it never blocks the updates after it.
            error = _describe(exc)
            log.warning(
                "telegram: update %s is unreadable (%s); journaled as such", update_id, error
            )
            return Received.unreadable(PLATFORM, key, raw, error), None
        if incoming is None:
            query = update.callback_query
            return None, (str(query.id) if query is not None else None)
        chat = incoming.chat
        if chat.is_group and chat.chat_id not in self._seen_groups:
            self._seen_groups.add(chat.chat_id)
            log.info("telegram: hearing from group %r (%s)", chat.title, chat.key)
        return Received.of(incoming, raw), None

    @staticmethod
    def _note_migration(update: Update) -> None:
        message = update.effective_message
        if message is not None and message.migrate_to_chat_id:
            log.warning(
                "telegram: group %s became supergroup %s; update the groups in bot.toml to "
                "telegram:%s",
                message.chat_id,
                message.migrate_to_chat_id,
                message.migrate_to_chat_id,
            )

    async def _commit(self, entries: list[Received]) -> bool:
        """Journal ``entries``, retrying until it works; False when stopping first (then they are
        not confirmed, and Telegram delivers them again)."""
        failures = 0
        while True:
            try:
                await self._journal(entries)
                return True
            except Exception as exc:
                if self._stopping:
                    log.warning(
                        "telegram: %d updates not journaled at stop (%s); left unconfirmed",
                        len(entries),
                        _describe(exc),
                    )
                    return False
                failures += 1
                wait = self._backoff(failures)
                log.warning(
                    "telegram: could not journal %d updates (%s); they stay unconfirmed, "
                    "retrying in %.1f s",
                    len(entries),
                    _describe(exc),
                    wait,
                )
                self._interruptible = True
                try:
                    await self._sleep(wait)
                finally:
                    self._interruptible = False

    async def _poll(self, bot: _RawBot) -> None:
        """Fetch a batch, journal it, and only then ask for the next one (which confirms it)."""
        failures = 0
        while not self._stopping:
            offset = self._offset
            self._interruptible = True
            try:
                updates = await bot.get_raw_updates(
                    offset,
                    timeout=self.poll_timeout,
                    read_timeout=math.ceil(self.poll_timeout) + UPDATES_READ_MARGIN,
                )
            except (
                Exception
            ) as exc:  # network errors, 409 Conflict, 5xx: Telegram keeps the updates
                failures += 1
                wait = self._backoff(failures)
                log.warning(
                    "telegram: getUpdates failed (%s), retrying in %.1f s", _describe(exc), wait
                )
                await self._sleep(wait)
                continue
            self._interruptible = False
            self._acknowledged = offset
            failures = 0
            entries: list[Received] = []
            presses: list[str] = []
            last: int | None = None
            for data in updates:
                update_id = data.get("update_id") if isinstance(data, dict) else None
                if isinstance(update_id, int):
                    last = update_id if last is None else max(last, update_id)
                entry, press = self._read(data, json.dumps(data, ensure_ascii=False))
                if entry is not None:
                    entries.append(entry)
                if press is not None:
                    presses.append(press)
            if entries:
                if not await self._commit(entries):
                    return
                # One turn of the loop first: the dispatcher, woken by the journal, starts on the
                # events before the next long poll's request is built (about 0.8 ms of the
                # acknowledgement's way otherwise).
                await asyncio.sleep(0)
            if last is not None:
                self._offset = last + 1
            for press in presses:
                self._spawn(self._answer_quietly(press))

    def _poller_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None and not self._stopping:
            log.error("telegram: polling stopped by an error", exc_info=task.exception())

    async def _stop_polling(self, bot: _RawBot) -> None:
        poller, self._poller = self._poller, None
        assert poller is not None
        if self._interruptible:
            poller.cancel()  # the long poll's updates are not confirmed yet: nothing is lost
        done, _ = await asyncio.wait({poller}, timeout=self.stop_timeout)
        if not done:
            log.warning(
                "telegram: journaling did not finish within %g s of stopping; those updates stay "
                "unconfirmed",
                self.stop_timeout,
            )
            poller.cancel()
            await asyncio.wait({poller})
        if self._offset is not None and self._offset != self._acknowledged:
            # Tell Telegram what was journaled since its last answer (PTB's Updater does the same).
            try:
                await bot.get_raw_updates(
                    self._offset, timeout=0, read_timeout=UPDATES_READ_MARGIN, limit=1
                )
                self._acknowledged = self._offset
            except Exception as exc:
                log.info(
                    "telegram: could not confirm the last updates (%s); Telegram will deliver "
                    "them again and the journal drops the repeats",
                    _describe(exc),
                )

    async def _start_webhook(self, bot: Bot) -> None:
        path = urlsplit(self.webhook_url).path or "/"
        app = tornado.web.Application(
            [(re.escape(path), _WebhookHandler, {"receive": self._on_webhook})],
            log_function=_log_webhook_request,
        )
        server = tornado.httpserver.HTTPServer(app, max_body_size=MAX_WEBHOOK_BODY)
        server.add_sockets(tornado.netutil.bind_sockets(self.webhook_port, self.webhook_listen))
        self._server = server
        # Listening before setWebhook: Telegram's first delivery finds the server up.
        await bot.set_webhook(
            url=self.webhook_url,
            secret_token=self._webhook_secret,
            allowed_updates=list(ALLOWED_UPDATES),
        )

    async def _on_webhook(self, secret: str | None, body: bytes) -> int:
        """The HTTP status for one POST: 200 once journaled (or ignored), 500 when journaling
        failed (Telegram delivers it again), 403 without the right secret, 503 while stopping."""
        if self._stopping or self._bot is None:
            return 503
        expected = (self._webhook_secret or "").encode()
        if not expected or not hmac.compare_digest((secret or "").encode(), expected):
            log.warning("telegram: refused a webhook request without the right secret token")
            return 403
        raw = body.decode("utf-8", "replace")
        try:
            data: Any = json.loads(raw)
        except ValueError:
            data = None  # journaled as unreadable
        entry, press = self._read(data, raw)
        if entry is not None:
            task = asyncio.ensure_future(self._journal([entry]))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            # asyncio.wait, not await: the journal must not be cancelled halfway with the request.
            await asyncio.wait({task})
            if task.exception() is not None:
                log.warning(
                    "telegram: could not journal %s (%s); answered 500, Telegram delivers it again",
                    entry.key,
                    _describe(task.exception() or RuntimeError()),
                )
                return 500
        if press is not None:
            self._spawn(self._answer_quietly(press))
        return 200

    async def _stop_webhook(self) -> None:
        server, self._server = self._server, None
        assert server is not None
        server.stop()  # no new connections; requests on open ones now get 503
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=self.stop_timeout)
        await server.close_all_connections()

    # ------------------------------------------------------------------ sending

    def turn(self, message: OutgoingMessage) -> AbstractAsyncContextManager[None]:
        """The message's slot under the flood limits, taken ahead of its send (``Sender.turn``)."""
        chat_id = message.chat_id
        return self._turns.hold(
            chat_id,
            lambda taken: self.limiter.acquire(chat_id, group=_is_group_id(chat_id), taken=taken),
        )

    def turn_delay(self, message: OutgoingMessage) -> float:
        """Seconds until the message's slot under the flood limits (``Sender.turn_delay``)."""
        return self.limiter.delay(message.chat_id, group=_is_group_id(message.chat_id))

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Post ``message``; long texts are split, the first part quotes, the last part has buttons.

        Returns the first part's id. Raises ``ValueError`` for button data over 64 bytes (before
        anything is sent), ``Undeliverable`` when the chat cannot be reached, ``DeliveryUncertain`` when
        the connection broke after a part had gone out, and ``telegram.error.TelegramError`` when
        Telegram refuses the message or keeps failing.
        """
        markup = to_markup(message.buttons)
        parts = split_text(message.text)
        bot = self._live_bot()
        chat_id = message.chat_id
        first: Message | None = None
        async with self._send_locks.hold(chat_id):  # the parts of two messages never interleave
            for index, part in enumerate(parts):
                kwargs: dict[str, Any] = {}
                if index == 0 and message.reply_to_message_id:
                    kwargs["reply_parameters"] = ReplyParameters(
                        message_id=int(message.reply_to_message_id),
                        allow_sending_without_reply=True,
                    )
                if index == len(parts) - 1 and markup is not None:
                    kwargs["reply_markup"] = markup

                async def call(
                    target: str, text: str = part, kw: dict[str, Any] = kwargs
                ) -> Message:
                    return await bot.send_message(chat_id=_chat_arg(target), text=text, **kw)

                sent, chat_id = await self._deliver(chat_id, call)
                if first is None:
                    first = sent
        assert first is not None
        return SentMessage(
            platform=PLATFORM,
            chat_id=str(first.chat_id),
            message_id=str(first.message_id),
            sent_at=_utc(first.date),
        )

    async def _deliver(
        self,
        chat_id: str,
        call: Callable[[str], Awaitable[T]],
        *,
        limited: bool = True,
        repeatable: bool = False,
    ) -> tuple[T, str]:
        """Call the API (through the limiter when ``limited``), retrying 429s, network errors and
        one group migration; returns the result and the chat id finally used.

        A call that is not ``repeatable`` (a new message) is not sent again after a network error
        that may have come after Telegram acted on it: that raises ``DeliveryUncertain``.
        """
        failures = floods = 0
        migrated = False
        while True:
            if limited and not self._turns.take(chat_id):
                await self.limiter.acquire(chat_id, group=_is_group_id(chat_id))
            try:
                return await call(chat_id), chat_id
            except RetryAfter as exc:
                floods += 1
                if floods > self.max_retries:
                    raise
                wait = _retry_seconds(exc)
                log.warning("telegram: flood limit in chat %s, retrying in %.1f s", chat_id, wait)
                await self._sleep(wait)
            except ChatMigrated as exc:
                if migrated:
                    raise
                migrated = True
                log.warning(
                    "telegram: group %s became supergroup %s; sending there (update bot.toml)",
                    chat_id,
                    exc.new_chat_id,
                )
                chat_id = str(exc.new_chat_id)
            except Forbidden as exc:
                # The person never pressed Start, blocked the bot, or the bot was removed.
                raise Undeliverable(
                    f"telegram refused chat {chat_id}: {REDACTOR.redact(str(exc))}"
                ) from None
            except BadRequest as exc:
                if "chat not found" in str(exc).lower():
                    raise Undeliverable(f"telegram: chat {chat_id} not found") from None
                raise  # a NetworkError subclass, but retrying cannot help
            except NetworkError as exc:  # includes TimedOut
                if not repeatable and _may_have_arrived(exc):
                    raise DeliveryUncertain(
                        f"telegram: no answer for a message to chat {chat_id} "
                        f"({REDACTOR.redact(str(exc)) or type(exc.__cause__).__name__}); "
                        "not sent again, it may already be posted"
                    ) from None
                failures += 1
                if failures > self.max_retries:
                    raise
                wait = self.retry_backoff * 2 ** (failures - 1)
                log.warning(
                    "telegram: network error (%s), retry %d/%d in %.1f s",
                    REDACTOR.redact(str(exc)),
                    failures,
                    self.max_retries,
                    wait,
                )
                await self._sleep(wait)

    async def answer_button(self, press: ButtonPress, notice: str | None = None) -> None:
        """Acknowledge a button press (answerCallbackQuery, no alert), showing ``notice`` if given.

        Failures are logged, not raised: a press older than Telegram's answer window cannot be
        answered, and the notice is a courtesy.
        """
        bot = self._live_bot()
        text = notice[:MAX_NOTICE_LENGTH] if notice else None

        async def call(_: str) -> bool:
            return await bot.answer_callback_query(press.press_id, text=text, show_alert=False)

        try:
            # answerCallbackQuery does not count towards the message limits.
            await self._deliver("", call, limited=False, repeatable=True)
        except TelegramError as exc:
            log.warning(
                "telegram: could not answer button press %s: %s",
                press.press_id,
                REDACTOR.redact(str(exc)),
            )

    async def _answer_quietly(self, press_id: str) -> None:
        """Stop the spinner of a press minyi ignores (no journal entry, so nobody else will)."""
        if self._bot is None:
            return
        try:
            await self._bot.answer_callback_query(press_id)
        except TelegramError as exc:
            log.debug("telegram: could not answer press %s: %s", press_id, exc)
