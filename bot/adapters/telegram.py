"""The Telegram adapter: python-telegram-bot 22 on one side, minyi's neutral events on the other.

This is the only module of minyi that imports ``telegram``. It has two halves:

* pure conversion — ``to_incoming`` (an ``Update`` → an ``IncomingMessage``, or ``None`` for
  updates minyi ignores), ``to_markup`` (button rows → an inline keyboard) and ``split_text``
  (texts longer than Telegram's 4096 characters → parts);
* ``TelegramAdapter`` — builds a PTB ``Application``, receives updates by long polling or a
  webhook, hands each event to the dispatcher's ``handle`` and posts what the handlers send back,
  respecting Telegram's flood limits (``RateLimiter``), retrying 429 answers and network errors
  (but never re-sending a message Telegram may already have posted), and keeping the bot token out
  of every log record (``TokenRedactor``).

Events of one chat are handled one after another, in the order Telegram delivered them; different
chats are handled concurrently, so a slow chat (a queue of rate-limited replies) never holds up
the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from telegram import (
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
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.warnings import PTBDeprecationWarning

from bot.events import (
    Button,
    ButtonPress,
    Chat,
    DeliveryUncertain,
    EventKind,
    IncomingMessage,
    OutgoingMessage,
    Person,
    Platform,
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

GROUP_COMMANDS: tuple[tuple[str, str], ...] = (
    ("status", "查询问题进度，例如 /status Q12"),
    ("help", "使用说明"),
)
"""The command menu residents see in groups."""
PRIVATE_COMMANDS: tuple[tuple[str, str], ...] = (
    ("digest", "潜水：查看分管群的最新动态"),
    ("reply", "答复问题，例如 /reply Q12 答复内容"),
    ("suggest", "查看问题的推荐答复模板"),
    ("speak", "在分管群发声（发布通知）"),
    ("transfer", "转办问题到其他部门"),
    ("status", "查询问题进度"),
    ("summary", "统计报表，例如 /summary today"),
    ("bind", "用邀请码绑定工作人员身份"),
    ("help", "使用说明"),
)
"""The command menu officials and supervisors see in their private chat with the bot."""


# --------------------------------------------------------------------------- token redaction


class TokenRedactor(logging.Filter):
    """Replaces bot tokens in log records with ``[REDACTED]``.

    PTB logs request URLs (which contain the token) at DEBUG, httpx logs them at INFO, ``repr(bot)``
    shows the token and PTB's ``InvalidToken`` message quotes it. The filter rewrites the record's
    message, arguments and any formatted traceback before a handler sees it.
    """

    MASK = "[REDACTED]"

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def add(self, token: str) -> None:
        """Start hiding ``token`` (and its secret half, in case the colon was URL-encoded)."""
        if token:
            self._secrets.add(token)
            _, _, secret = token.partition(":")
            if len(secret) >= 8:
                self._secrets.add(secret)

    def redact(self, text: str) -> str:
        """``text`` with every known token replaced."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, self.MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; never drops it."""
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        redacted = self.redact(message)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


REDACTOR = TokenRedactor()
"""The one redactor shared by every adapter instance in the process."""
REDACTED_LOGGERS = ("telegram", "httpx", "httpcore", "tornado", __name__)
"""Loggers (and all their children) whose records ``REDACTOR`` rewrites."""
_factory_prefixes: tuple[str, ...] = ()


def _redacting_factory(
    previous: Callable[..., logging.LogRecord],
) -> Callable[..., logging.LogRecord]:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        name = record.name
        if any(name == p or name.startswith(p + ".") for p in _factory_prefixes):
            REDACTOR.filter(record)
        return record

    return factory


def install_redaction(token: str, logger_names: Iterable[str] = REDACTED_LOGGERS) -> TokenRedactor:
    """Hide ``token`` from the records of the ``telegram``/``httpx`` loggers and their children.

    A filter on a logger only sees records created by that very logger, so it is attached to each
    existing child logger too (PTB and httpx create theirs at import time, before this runs), and
    a wrapping log-record factory covers loggers created afterwards.
    """
    global _factory_prefixes
    REDACTOR.add(token)
    prefixes = tuple(logger_names)
    if not _factory_prefixes:
        # Loggers created later (tornado's, when the webhook starts) get no filter of their own:
        # the record factory catches their records as they are made.
        logging.setLogRecordFactory(_redacting_factory(logging.getLogRecordFactory()))
    _factory_prefixes = tuple(sorted({*_factory_prefixes, *prefixes}))
    names = set(prefixes)
    names.update(
        name
        for name in list(logging.Logger.manager.loggerDict)
        if name.startswith(tuple(p + "." for p in prefixes))
    )
    for name in names:
        logger = logging.getLogger(name)
        if REDACTOR not in logger.filters:
            logger.addFilter(REDACTOR)
    return REDACTOR


class TelegramStartError(RuntimeError):
    """The adapter could not start (bad token, unreachable API, bad webhook settings).

    The message never contains the token.
    """


# --------------------------------------------------------------------------- pure conversion


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


class RateLimiter:
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
        self.limits = limits or RateLimits()
        self._clock = clock
        self._sleep = sleep
        self._overall: deque[float] = deque()
        self._overall_lock = asyncio.Lock()
        self._groups: dict[str, deque[float]] = {}
        self._group_locks: dict[str, asyncio.Lock] = {}

    async def _wait_slot(self, stamps: deque[float], limit: int, window: float) -> float:
        waited = 0.0
        while True:
            now = self._clock()
            while stamps and stamps[0] <= now - window:
                stamps.popleft()
            if len(stamps) < limit:
                return waited
            delay = stamps[0] + window - now
            waited += delay
            await self._sleep(delay)

    async def acquire(self, chat_id: str, *, group: bool) -> float:
        """Wait until a message to ``chat_id`` may go out; returns the seconds waited."""
        limits = self.limits
        overall_window = limits.overall_window + limits.margin
        if not group:
            async with self._overall_lock:
                waited = await self._wait_slot(self._overall, limits.overall, overall_window)
                self._overall.append(self._clock())
                return waited
        group_window = limits.per_group_window + limits.margin
        lock = self._group_locks.setdefault(chat_id, asyncio.Lock())
        async with lock:
            stamps = self._groups.setdefault(chat_id, deque())
            waited = await self._wait_slot(stamps, limits.per_group, group_window)
            async with self._overall_lock:
                waited += await self._wait_slot(self._overall, limits.overall, overall_window)
                now = self._clock()
                self._overall.append(now)
                stamps.append(now)
        return waited


class _NoLimits(RateLimiter):
    async def acquire(self, chat_id: str, *, group: bool) -> float:
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


class _ChatLocks:
    """One lock per chat, forgotten when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def acquire(self, key: str) -> _ChatLockContext:
        return _ChatLockContext(self, key)

    def _enter(self, key: str) -> asyncio.Lock:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        return lock

    def _exit(self, key: str) -> None:
        lock, users = self._locks[key]
        if users <= 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, users - 1)


class _ChatLockContext:
    def __init__(self, owner: _ChatLocks, key: str) -> None:
        self._owner, self._key = owner, key
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> None:
        self._lock = self._owner._enter(self._key)
        try:
            await self._lock.acquire()
        except BaseException:
            self._owner._exit(self._key)
            raise

    async def __aexit__(self, *exc: object) -> None:
        assert self._lock is not None
        self._lock.release()
        self._owner._exit(self._key)


class TelegramAdapter:
    """Connects one Telegram bot to minyi's dispatcher (the ``Sender`` protocol of ``bot.events``).

    ``handle`` is called once per converted event (``Dispatcher.handle``); its exceptions are logged
    and never stop polling. ``rate_limits=None`` lifts the flood limits (benchmarks against a local
    fake server only). ``max_retries`` bounds retries of network errors (exponential backoff from
    ``retry_backoff`` seconds) and of 429 answers (each after the ``retry_after`` Telegram gives).
    A new message whose answer does not come within ``read_timeout`` seconds is not sent again (it
    may be posted already): ``send`` raises ``DeliveryUncertain``.
    """

    platform = PLATFORM

    def __init__(
        self,
        token: str,
        handle: Callable[[IncomingMessage], Awaitable[object]],
        *,
        base_url: str | None,
        aliases: Sequence[str],
        mode: str = "polling",
        webhook_listen: str = "127.0.0.1",
        webhook_port: int = 8443,
        webhook_url: str = "",
        webhook_secret: str | None = None,
        rate_limits: RateLimits | None = RateLimits(),
        limiter: RateLimiter | None = None,
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
        if mode == "webhook" and not webhook_secret:
            log.warning(
                "telegram: webhook without a secret token; anyone who learns the URL can post "
                "updates (set TELEGRAM_WEBHOOK_SECRET)"
            )
        install_redaction(token)
        self._token = token
        self._handle = handle
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
            self.limiter = RateLimiter(rate_limits, sleep=sleep)
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.poll_timeout = poll_timeout
        self.stop_timeout = stop_timeout
        self.connections = connections
        self.read_timeout = read_timeout
        self._sleep = sleep
        self.username = ""
        self.bot_id: int | None = None
        self._app: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._send_locks = _ChatLocks()
        self._answered: set[str] = set()
        self._seen_groups: set[str] = set()

    def __repr__(self) -> str:
        return f"TelegramAdapter(@{self.username or '?'}, mode={self.mode})"

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        """Connect: getMe, publish the command menus, then poll or serve the webhook; returns once
        updates are flowing. Raises ``TelegramStartError`` (without the token) when that fails."""
        if self._app is not None:
            raise RuntimeError("the Telegram adapter is already started")
        # A few kept-alive connections serve Telegram's 30 messages a second; more requests wait
        # their turn for a connection (instead of PTB's 1 s pool timeout failing them).
        builder = (
            ApplicationBuilder()
            .token(self._token)
            .connection_pool_size(self.connections)
            .pool_timeout(60.0)
            .read_timeout(self.read_timeout)
        )
        if self.base_url:
            builder = builder.base_url(self.base_url)
        app = builder.build()
        app.add_handler(TypeHandler(Update, self._on_update))
        app.add_error_handler(self._on_error)
        try:
            await app.initialize()
        except TelegramError as exc:
            await app.bot.shutdown()  # close the HTTP clients getMe opened
            raise TelegramStartError(
                f"Telegram getMe failed: {REDACTOR.redact(str(exc))} "
                "(check the bot token and telegram.base_url)"
            ) from None
        self.username = app.bot.username
        self.bot_id = app.bot.id
        try:
            await self._publish_commands(app)
            assert app.updater is not None
            if self.mode == "webhook":
                await app.updater.start_webhook(
                    listen=self.webhook_listen,
                    port=self.webhook_port,
                    url_path=urlsplit(self.webhook_url).path.lstrip("/"),
                    webhook_url=self.webhook_url,
                    secret_token=self._webhook_secret,
                    allowed_updates=list(ALLOWED_UPDATES),
                    drop_pending_updates=False,
                )
            else:
                await app.updater.start_polling(
                    timeout=timedelta(seconds=self.poll_timeout),
                    allowed_updates=list(ALLOWED_UPDATES),
                    drop_pending_updates=False,
                    error_callback=self._on_polling_error,
                )
            await app.start()
        except (TelegramError, OSError) as exc:
            await self._teardown(app)
            raise TelegramStartError(
                f"Telegram {self.mode} could not start: {REDACTOR.redact(str(exc))}"
            ) from None
        self._app = app
        log.info("telegram: @%s is receiving updates by %s", self.username, self.mode)

    async def _publish_commands(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        for scope, commands in (
            (BotCommandScopeAllGroupChats(), GROUP_COMMANDS),
            (BotCommandScopeAllPrivateChats(), PRIVATE_COMMANDS),
        ):
            await app.bot.set_my_commands(
                [BotCommand(name, description) for name, description in commands], scope=scope
            )

    @staticmethod
    async def _teardown(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        try:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
        finally:
            await app.shutdown()

    async def stop(self) -> None:
        """Stop receiving, finish the events already received (up to ``stop_timeout`` seconds),
        then close the HTTP connections. Polling confirms the received updates with Telegram."""
        app = self._app
        if app is None:
            return
        try:
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await self.drain(self.stop_timeout)  # handlers may still send while draining
        finally:
            self._app = None
            await app.shutdown()
        log.info("telegram: @%s stopped", self.username)

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every event received so far is handled; cancel the rest at ``timeout``."""
        pending = set(self._tasks)
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=timeout)
        if still:
            log.warning("telegram: %d events still being handled at stop: cancelled", len(still))
            for task in still:
                task.cancel()
            await asyncio.wait(still)

    # ------------------------------------------------------------------ receiving

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.migrate_to_chat_id:
            log.warning(
                "telegram: group %s became supergroup %s; update the groups in bot.toml to "
                "telegram:%s",
                message.chat_id,
                message.migrate_to_chat_id,
                message.migrate_to_chat_id,
            )
        try:
            incoming = to_incoming(update, self.username, self.aliases)
        except Exception:
            log.exception("telegram: could not convert update %s", update.update_id)
            incoming = None
        if incoming is None:
            if update.callback_query is not None:
                await self._answer_quietly(str(update.callback_query.id))
            return
        chat = incoming.chat
        if chat.is_group and chat.chat_id not in self._seen_groups:
            self._seen_groups.add(chat.chat_id)
            log.info("telegram: hearing from group %r (%s)", chat.title, chat.key)
        self._schedule(incoming)

    def _schedule(self, incoming: IncomingMessage) -> None:
        """Run ``handle`` for ``incoming`` after the chat's previous event, without blocking PTB."""
        key = incoming.chat.chat_id
        previous = self._tails.get(key)
        task = asyncio.create_task(self._run(incoming, previous), name=f"telegram-{key}")
        self._tails[key] = task
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            if self._tails.get(key) is finished:
                del self._tails[key]

        task.add_done_callback(done)

    async def _run(self, incoming: IncomingMessage, previous: asyncio.Task[None] | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait({previous})
        try:
            await self._handle(incoming)
        except Exception:
            log.exception(
                "telegram: handling %s %s in chat %s failed",
                incoming.kind,
                incoming.message_id,
                incoming.chat.chat_id,
            )
        finally:
            press = incoming.button
            if press is not None:
                if press.press_id in self._answered:
                    self._answered.discard(press.press_id)
                else:  # nobody answered (a redelivery, an error): stop the client's spinner
                    await self._answer_quietly(press.press_id)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram: error while processing an update", exc_info=context.error)

    @staticmethod
    def _on_polling_error(error: TelegramError) -> None:
        log.warning("telegram: polling failed, retrying: %s", REDACTOR.redact(str(error)))

    # ------------------------------------------------------------------ sending

    def _bot_app(self) -> Application[Any, Any, Any, Any, Any, Any]:
        if self._app is None:
            raise RuntimeError("the Telegram adapter is not started")
        return self._app

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Post ``message``; long texts are split, the first part quotes, the last part has buttons.

        Returns the first part's id. Raises ``ValueError`` for button data over 64 bytes (before
        anything is sent), ``Undeliverable`` when the chat cannot be reached, ``DeliveryUncertain`` when
        the connection broke after a part had gone out, and ``telegram.error.TelegramError`` when
        Telegram refuses the message or keeps failing.
        """
        markup = to_markup(message.buttons)
        parts = split_text(message.text)
        bot = self._bot_app().bot
        chat_id = message.chat_id
        first: Message | None = None
        async with self._send_locks.acquire(chat_id):
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
            if limited:
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
        bot = self._bot_app().bot
        text = notice[:MAX_NOTICE_LENGTH] if notice else None
        self._answered.add(press.press_id)

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
        if self._app is None:
            return
        try:
            await self._app.bot.answer_callback_query(press_id)
        except TelegramError as exc:
            log.debug("telegram: could not answer press %s: %s", press_id, exc)
