"""WeChat adapter: python-wechaty 0.10.7 talking gRPC to a wechaty *puppet service*.

This is the only module of the project that imports ``wechaty``, ``wechaty_puppet``,
``wechaty_puppet_service`` or ``wechaty_grpc``; they come with the optional extra
``pip install 'minyi[wechat]'``. Importing this module without them raises ``ImportError`` (which
``bot.app`` turns into an installation hint).

Shape of the adapter:

* ``to_incoming`` and ``to_membership`` are pure functions from the puppet's payloads (message, talker
  contact, room; room-join/leave events) to the neutral ``IncomingMessage``; they are tested on
  recorded payloads.
* ``WechatAdapter`` wires the SDK to the journal. It uses the SDK for the connection (PuppetService,
  the gRPC channel, the event stream), for loading ``Message``/``Contact``/``Room`` payloads and for
  sending (``MessageSendText``, with ``room.say``'s ``@Name`` prefixes), but replaces the SDK's event
  bridge and its ``start()``: as released they lose messages and reconnect slowly (details at
  ``_MinyiWechaty``). A supervisor reconnects within seconds when the stream ends, breaks or stalls.
* Incoming events are fetched concurrently but journaled in stream order, each as soon as it is
  loaded: puppet services push an event once and never deliver it again, so the journal (``journal``,
  ``Dispatcher.receive``) is where it becomes durable. A payload that cannot be converted is journaled
  as unreadable. Outgoing room messages are rate limited per room (queued, not dropped) and the
  messages of one chat go out one after another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import tempfile
import time
import uuid
import warnings
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.adapters.shared import KeyedLocks, RateLimiter, Turns, install_redaction
from bot.events import (
    ButtonPress,
    Chat,
    DeliveryUncertain,
    EventKind,
    IncomingMessage,
    Journal,
    OutgoingMessage,
    Person,
    Platform,
    Received,
    SentMessage,
    Undeliverable,
)

log = logging.getLogger(__name__)


def _default_cache_dir() -> str:
    """A per-user cache directory for wechaty's files (it writes ``$CACHE_DIR`` at import time)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "minyi" / "wechaty"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        path = Path(tempfile.gettempdir()) / "minyi-wechaty"
        path.mkdir(parents=True, exist_ok=True)
    return str(path)


# wechaty creates $CACHE_DIR (default ./.wechaty, i.e. wherever the bot was started) when it is first
# imported, so point it at a cache directory *before* the import; an explicit CACHE_DIR wins.
os.environ.setdefault("CACHE_DIR", _default_cache_dir())
# The SDK logs every event and every send at INFO through its own stderr handlers; keep it to warnings
# unless the operator asked otherwise (WECHATY_LOG=info/verbose/...).
os.environ.setdefault("WECHATY_LOG", "warn")

with warnings.catch_warnings():
    # The SDK's imports warn about things we cannot change (telnetlib is deprecated since 3.11,
    # pyee moved AsyncIOEventEmitter); keep them out of the application's output.
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        from wechaty_puppet.schemas.puppet import PuppetOptions

        # Python 3.11 shim: wechaty's ``WechatyOptions`` dataclass has ``puppet_options: PuppetOptions =
        # PuppetOptions()`` as a default. PuppetOptions is an (eq=True, hence unhashable) dataclass and
        # Python 3.11's dataclasses reject unhashable defaults as "mutable default ... use
        # default_factory", so ``import wechaty`` fails with ValueError. Giving PuppetOptions the identity
        # hash makes the import work; we never rely on that shared default (each adapter builds a fresh
        # PuppetOptions). Must run before the first ``import wechaty``.
        PuppetOptions.__hash__ = object.__hash__  # type: ignore[assignment]

        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from grpclib.const import Status
        from grpclib.exceptions import GRPCError
        from wechaty import Wechaty, WechatyOptions
        from wechaty.config import AT_SEPARATOR
        from wechaty.user import Contact as _SdkContact
        from wechaty.user import Room as _SdkRoom
        from wechaty.user import Tag as _SdkTag
        from wechaty.utils.async_helper import SingleIdContainer
        from wechaty_grpc.wechaty.puppet import (
            ContactPayloadResponse,
            MessagePayloadResponse,
            MessageType,
            RoomPayloadResponse,
        )
        from wechaty_puppet import (
            EventErrorPayload,
            EventLoginPayload,
            EventLogoutPayload,
            EventMessagePayload,
            EventRoomJoinPayload,
            EventRoomLeavePayload,
            EventScanPayload,
        )
    except ImportError:
        raise
    except Exception as exc:  # pragma: no cover - depends on the installed versions
        # Wrong versions (e.g. pyee>=12, urllib3>=2, newer betterproto) fail in odd ways at import time;
        # report them as an ImportError so bot.app can say how to install the right extra.
        raise ImportError(
            f"wechaty could not be imported ({type(exc).__name__}: {exc}); "
            "install the pinned extra: pip install 'minyi[wechat]'",
            name="wechaty",
        ) from exc


PLATFORM = Platform.WECHAT.value

TEXT_WIRE_TYPE = 7
"""Text in the TypeScript wechaty-puppet ``MessageType`` enum, which puppet services put on the wire."""

DEFAULT_ROOM_RATE = 20
"""Messages per minute per room; WeChat throttles (and may ban) accounts that post faster."""

_QUOTE = re.compile(
    r"^「(?P<who>[^：:」\n]*)[：:](?P<quoted>.*?)」\s*\n\s*(?:-\s*){5,}\n(?P<reply>.*)$", re.S
)
"""How padlocal-style puppets render a quoted reply in the message text (wechaty-grpc 0.20 payloads
carry no structured quote): ``「name：quoted text」`` / a line of ``- - - -`` / the reply."""


# --------------------------------------------------------------------------------------------------
# Pure conversion
# --------------------------------------------------------------------------------------------------


def _is_text(message_type: object) -> bool:
    """True for text messages, whichever enum ``message_type`` is expressed in.

    On the wire (and in recorded payloads) the type is the TypeScript enum as a plain int (text = 7);
    after python-wechaty's ``_map_message_type`` it is a ``wechaty_grpc`` ``MessageType`` member
    (text = MESSAGE_TYPE_TEXT = 6, which is *image* in the wire enum).
    """
    if isinstance(message_type, MessageType):
        return message_type == MessageType.MESSAGE_TYPE_TEXT
    return message_type == TEXT_WIRE_TYPE


def timestamp_to_utc(timestamp: int | float, fallback: datetime | None = None) -> datetime:
    """Puppet timestamps are seconds or milliseconds since the epoch (both occur); → aware UTC."""
    if not timestamp:
        return fallback or datetime.now(UTC)
    seconds = timestamp / 1000 if timestamp > 2_145_888_000 else timestamp  # 2038-01-01 in seconds
    return datetime.fromtimestamp(seconds, UTC)


def to_incoming(
    message: MessagePayloadResponse,
    talker: ContactPayloadResponse | None,
    room: RoomPayloadResponse | None,
    *,
    self_id: str,
    mention_self: bool | None = None,
    self_name: str = "",
    talker_room_alias: str = "",
    received_at: datetime | None = None,
) -> IncomingMessage | None:
    """Convert one puppet message into an ``IncomingMessage``; ``None`` for what the bot ignores.

    ``message``/``talker``/``room`` are the ``MessagePayload``, ``ContactPayload`` (of the sender) and
    ``RoomPayload`` (``None`` for private chats) as the puppet service returns them. ``mention_self``
    is the SDK's verdict (``self_id`` in the mention list); when ``None`` it is computed here.
    ``self_name`` lets a quoted bot message name the bot as ``reply_to_sender_id``.
    ``received_at`` stands in for a missing timestamp. The text is kept intact (the dispatcher strips
    ``@name`` itself), except that a quoted message is moved into ``reply_to_text``.

    Ignored: the bot's own messages, non-text messages, messages without a sender.
    """
    talker_id = message.from_id or (talker.id if talker is not None else "")
    if not talker_id or talker_id == self_id:
        return None
    if not _is_text(message.type):
        return None
    text = message.text or ""
    reply_to_text: str | None = None
    reply_to_sender_id: str | None = None
    quote = _QUOTE.match(text)
    if quote:
        reply_to_text = quote.group("quoted").strip()
        text = quote.group("reply").strip()
        if self_name and quote.group("who").strip() == self_name:
            reply_to_sender_id = self_id
    if mention_self is None:
        mention_self = self_id in (message.mention_ids or [])
    name = talker_room_alias or (talker.name if talker is not None else "") or talker_id
    sender = Person(platform=PLATFORM, user_id=talker_id, display_name=name)
    room_id = message.room_id or (room.id if room is not None else "")
    if room_id:
        chat = Chat(
            platform=PLATFORM,
            chat_id=room_id,
            title=room.topic if room is not None else "",
            is_group=True,
        )
    else:
        chat = Chat(platform=PLATFORM, chat_id=talker_id, title=name, is_group=False)
        mention_self = False
    return IncomingMessage(
        platform=PLATFORM,
        chat=chat,
        sender=sender,
        message_id=message.id,
        text=text,
        sent_at=timestamp_to_utc(message.timestamp, received_at),
        mentions_bot=bool(mention_self),
        reply_to_sender_id=reply_to_sender_id,
        reply_to_text=reply_to_text,
    )


def to_membership(
    joined: bool,
    room: RoomPayloadResponse,
    members: Sequence[ContactPayloadResponse],
    actor: ContactPayloadResponse | None,
    *,
    timestamp: float,
    self_id: str,
    received_at: datetime | None = None,
) -> IncomingMessage | None:
    """Convert a room-join (``joined``) or room-leave event into a MEMBER_JOINED/LEFT event.

    ``members`` are the contacts who joined or left (the bot itself is left out), ``actor`` the inviter
    or remover (the members themselves when the puppet does not say). The puppet gives no id for such
    an event; ``message_id`` is built from its time and members so that a redelivery has the same key.
    ``None`` when only the bot itself joined or left.
    """
    people = tuple(
        Person(platform=PLATFORM, user_id=m.id, display_name=m.name or m.id)
        for m in members
        if m.id and m.id != self_id
    )
    if not people:
        return None
    if actor is not None and actor.id and actor.id != self_id:
        sender = Person(platform=PLATFORM, user_id=actor.id, display_name=actor.name or actor.id)
    else:
        sender = people[0]
    ids = ",".join(sorted(p.user_id for p in people))
    return IncomingMessage(
        platform=PLATFORM,
        chat=Chat(platform=PLATFORM, chat_id=room.id, title=room.topic, is_group=True),
        sender=sender,
        message_id=f"{int(timestamp or 0)}:{ids}",
        text="",
        sent_at=timestamp_to_utc(timestamp or 0, received_at),
        kind=EventKind.MEMBER_JOINED if joined else EventKind.MEMBER_LEFT,
        members=people,
    )


# --------------------------------------------------------------------------------------------------
# The SDK, minus its lossy parts
# --------------------------------------------------------------------------------------------------


def reset_sdk_caches() -> None:
    """Forget wechaty's process-global caches: the Contact/Room/Tag pools and seen message ids.

    The pools are class attributes shared by every bot in the process: a second bot (in tests) would
    get the first bot's objects, bound to the first bot's puppet, and cached payloads (names, room
    topics) would never refresh. Called on every (re)connection; tests call it between bots.
    """
    _SdkContact._pool.clear()
    _SdkRoom._pool.clear()
    _SdkTag._pool.clear()
    SingleIdContainer._instance = None


class _MinyiWechaty(Wechaty):  # type: ignore[misc]  # the SDK is untyped for mypy
    """``Wechaty`` with a ``start()`` that reports failure instead of hiding it.

    As released, ``Wechaty.start()`` (a) swallows most errors with a ``print``, (b) on a broken stream
    sleeps 60 s before restarting, (c) returns quietly when the stream ends, and its event bridge
    (d) marks a message id as seen *before* loading the message, so a message whose payload fetch
    fails on a dying connection is skipped when the service re-sends it, and (e) restarts the plugin
    scheduler on every login, which raises on the second login after a reconnect. Here ``start()``
    connects and runs the event stream until it ends or fails (raising), the adapter installs its own
    listeners (``bridge``), and ``WechatAdapter`` supervises reconnection with a short backoff.
    """

    bridge: Callable[[Any], None] | None = None

    async def start(self) -> None:
        """Connect to the puppet service and block for the life of its event stream."""
        # Rebinds the user classes (Contact, Room, Message …) to the puppet; the channel is made anew
        # by puppet.start().
        await self.init_puppet()
        if self.bridge is not None:
            self.bridge(self.puppet)
        await self.puppet.start()  # Stop, Start, then the Event stream until it ends or breaks


def _payload_of(accessory: Any) -> Any:
    """The SDK object's payload, or None when it is missing or was never loaded."""
    return getattr(accessory, "_payload", None) if accessory is not None else None


def _free_local_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


REDACTED_LOGGERS = ("PuppetService", "Wechaty", "WechatyPuppetServiceConfig", "grpclib", __name__)
"""Loggers (and their children) whose records never show the puppet token."""
_TOKEN_FIELD = (re.compile(r"(token)<[^>]*>", re.I), r"\1<[REDACTED]>")
"""The SDK logs the token in plain text ("there are endpoint<…> and token<…>"), however short it is."""
JOURNAL_RETRY_MAX = 30.0
"""The longest pause between attempts to journal an event while the journal fails."""


class _Unreadable(Exception):
    """The service gave an event's payload but it could not be converted (journaled as poison)."""

    def __init__(self, raw: str, error: str) -> None:
        super().__init__(error)
        self.raw = raw
        self.error = error


def _wire_json(payload: Any) -> Any:
    """A puppet payload as its wire JSON (camelCase, as in recordings); ``None`` stays ``None``."""
    return payload.to_dict() if payload is not None else None


async def _probe(host: str, port: int, timeout: float) -> None:
    """Open and close a TCP connection (the SDK's own probe is a blocking telnet on the event loop)."""
    _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def _split_endpoint(endpoint: str) -> tuple[str, int]:
    rest = endpoint.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = rest.rpartition(":")
    if not host:
        return rest, 80
    return host.strip("[]"), int(port)


_REFUSED = frozenset(
    {
        Status.NOT_FOUND,
        Status.PERMISSION_DENIED,
        Status.FAILED_PRECONDITION,
        Status.INVALID_ARGUMENT,
    }
)
"""Send errors that retrying cannot fix: the message is ``Undeliverable``."""


_Loaded = tuple[IncomingMessage, str] | None
"""A loaded event and its raw payloads (JSON text), or ``None`` for what the bot ignores."""


@dataclass
class _Pending:
    key: str
    task: asyncio.Task[_Loaded]


class WechatAdapter:
    """Connects a wechaty puppet service to the journal and sends the bot's replies."""

    platform = PLATFORM
    buttons = False

    def __init__(
        self,
        endpoint: str,
        token: str,
        journal: Journal,
        *,
        aliases: Sequence[str] = (),
        room_rate_per_minute: int = DEFAULT_ROOM_RATE,
        login_timeout: float = 60.0,
        send_timeout: float = 30.0,
        reconnect_delay: float = 0.2,
        reconnect_max_delay: float = 10.0,
        keepalive: float = 60.0,
        keepalive_timeout: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """``endpoint`` is ``host:port`` of the puppet service, ``token`` its token (any non-empty
        string for a local service). ``journal`` (``Dispatcher.receive``) gets every received event, one at
        a time in stream order; while it fails the adapter retries (events wait in memory).
        ``room_rate_per_minute`` caps posts per room (``0`` disables the cap, e.g. for benchmarks).
        After ``keepalive`` seconds without any event the service must answer a Ding within
        ``keepalive_timeout`` seconds or the connection is made anew (``0`` disables the check).
        A send waits up to ``send_timeout`` seconds for a reconnect, and as long again for the
        service's answer; a message left unanswered is not sent again (``DeliveryUncertain``).
        ``clock``/``sleep`` drive the rate limiter and the journal's retries (tests inject fakes).
        """
        if not endpoint or not token:
            raise ValueError("the WeChat puppet service needs both an endpoint and a token")
        self.endpoint = endpoint
        self.token = token
        self.journal = journal
        self.aliases = tuple(aliases)
        self.username = ""
        """The bot account's display name, known after login."""
        self.self_id = ""
        """The bot account's contact id, known after login."""
        self.login_timeout = login_timeout
        self.send_timeout = send_timeout
        self.reconnect_delay = reconnect_delay
        self.reconnect_max_delay = reconnect_max_delay
        self.keepalive = keepalive
        self.keepalive_timeout = keepalive_timeout
        self._last_event = time.monotonic()
        self._sleep = sleep
        self.limiter = (
            RateLimiter(room_rate_per_minute, 60.0, clock=clock, sleep=sleep)
            if room_rate_per_minute > 0
            else None
        )
        self.reconnects = 0
        """How many times the connection ended or failed and was tried again (for tests, logs)."""
        self._bot: _MinyiWechaty | None = None
        self._runner: asyncio.Task[None] | None = None
        self._intake_task: asyncio.Task[None] | None = None
        self._intake: asyncio.Queue[_Pending] = asyncio.Queue()
        self._intake_busy = False
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_max = 50_000
        self._known_chats: set[str] = set()
        self._connected = asyncio.Event()
        self._generation = 0
        self._stopping = False
        self._last_error: BaseException | None = None
        self._member_alias: dict[tuple[str, str], str] = {}
        self._authors: OrderedDict[tuple[str, str], str] = OrderedDict()
        """(chat id, message id) → sender id of recent incoming messages, to @-mention on reply."""
        self._recent_sent: dict[str, deque[tuple[str, str]]] = {}
        """chat id → (text, message id) of the bot's recent posts, to resolve quotes of them."""
        self._send_locks = KeyedLocks()
        self._turns = Turns()
        install_redaction([token], REDACTED_LOGGERS, [_TOKEN_FIELD])

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, wait for the login, and keep the event stream running in the background.

        Raises ``RuntimeError`` when the service does not log in within ``login_timeout`` seconds.
        """
        if self._runner is not None:
            raise RuntimeError("WechatAdapter.start() called twice")
        self._stopping = False
        # The token is also the gRPC channel's :authority, and hpack/h2 dump every HTTP/2 header at
        # DEBUG. Their header dumps are never useful here, so they stop at INFO.
        for name in ("hpack", "h2"):
            quiet = logging.getLogger(name)
            if quiet.level < logging.INFO:
                quiet.setLevel(logging.INFO)
        options = WechatyOptions(
            puppet="wechaty-puppet-service",
            # A fresh PuppetOptions: the dataclass default instance is shared by every bot.
            puppet_options=PuppetOptions(end_point=self.endpoint, token=self.token),
            # Never started (we install no plugins and skip the plugin manager), but make sure
            # nothing would probe or bind the default 0.0.0.0:5000.
            host="127.0.0.1",
            port=_free_local_port(),
            # An in-memory scheduler instead of the default SQLAlchemy job store in $CACHE_DIR/job.db.
            scheduler=AsyncIOScheduler(),
        )
        with warnings.catch_warnings():
            # pyee 11 warns that AsyncIOEventEmitter moved; it is the SDK's import, not ours.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="pyee")
            bot = _MinyiWechaty(options)
        bot.bridge = self._bridge
        self._bot = bot
        self._intake_task = asyncio.create_task(self._intake_loop(), name="wechat-intake")
        self._runner = asyncio.create_task(self._run(), name="wechat-stream")
        try:
            await asyncio.wait_for(self._connected.wait(), self.login_timeout)
        except TimeoutError:
            reason = f" (last error: {self._last_error!r})" if self._last_error else ""
            await self.close()
            raise RuntimeError(
                f"WeChat puppet service at {self.endpoint} did not log in within "
                f"{self.login_timeout:g} s{reason}; check WECHATY_PUPPET_SERVICE_ENDPOINT/_TOKEN "
                "and that the service is running and its account is logged in"
            ) from None
        log.info("wechat: logged in as %s (%s)", self.username, self.self_id)

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Stop taking new events and journal the ones taken (up to ``drain_timeout`` s). Events
        that arrive from now on are not fetched, so the service still has them undelivered. Sending
        still works until ``close``."""
        if self._stopping:
            return
        self._stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_timeout
        while (not self._intake.empty() or self._intake_busy) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        left = self._intake.qsize() + self._intake_busy
        if left:
            log.error(
                "wechat: %d received events not journaled within %g s of stopping",
                left,
                drain_timeout,
            )
        if self._intake_task is not None:
            self._intake_task.cancel()
            await asyncio.gather(self._intake_task, return_exceptions=True)
        while not self._intake.empty():
            self._intake.get_nowait().task.cancel()
        self._intake_task = None

    async def close(self) -> None:
        """Stop receiving (if not yet), then disconnect from the puppet service; sending is over."""
        await self.stop()
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        self._runner = None
        bot, self._bot = self._bot, None
        if bot is not None:
            await self._close_puppet(bot, polite=True)
        self._connected.clear()

    async def _run(self) -> None:
        """Supervise the connection: (re)connect with a short backoff whenever the stream ends,
        breaks, or stalls (see ``_watchdog``)."""
        delay = self.reconnect_delay
        host, port = _split_endpoint(self.endpoint)
        while not self._stopping:
            bot = self._bot
            assert bot is not None
            began = time.monotonic()
            stream: asyncio.Task[None] | None = None
            watchdog: asyncio.Task[str] | None = None
            try:
                await _probe(host, port, timeout=5)
                reset_sdk_caches()
                self._member_alias.clear()
                self._last_event = time.monotonic()
                # bot.start() returns (or raises) when the event stream is over.
                stream = asyncio.create_task(bot.start(), name="wechat-stream-once")
                watchdog = asyncio.create_task(self._watchdog(bot), name="wechat-watchdog")
                await asyncio.wait({stream, watchdog}, return_when=asyncio.FIRST_COMPLETED)
                if stream.done():
                    stream.result()  # raises what broke the stream
                    log.warning("wechat: the puppet service closed the event stream; reconnecting")
                else:
                    reason = watchdog.result()
                    self._last_error = RuntimeError(reason)
                    log.warning("wechat: %s; reconnecting", reason)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._last_error = exc
                log.warning("wechat: puppet service connection failed: %r", exc)
            finally:
                self._connected.clear()
                for task in (stream, watchdog):
                    if task is not None and not task.done():
                        task.cancel()
                await asyncio.gather(
                    *(t for t in (stream, watchdog) if t is not None), return_exceptions=True
                )
            await self._close_puppet(bot, polite=False)
            if self._stopping:
                break
            if time.monotonic() - began > 30:
                delay = self.reconnect_delay  # it ran for a while: this is a fresh failure
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max_delay)

    async def _watchdog(self, bot: _MinyiWechaty) -> str:
        """Return (a reason) when the connection looks dead although the stream has not ended.

        A half-open TCP connection or a hung service never ends the event stream. So: no login
        within ``login_timeout`` → dead; after ``keepalive`` seconds without any event, a Ding must
        be answered within ``keepalive_timeout`` seconds.
        """
        began = time.monotonic()
        tick = max(0.05, min(1.0, self.keepalive / 2)) if self.keepalive else 1.0
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if not self._connected.is_set():
                if now - began > self.login_timeout:
                    return f"no login within {self.login_timeout:g} s"
                continue
            if not self.keepalive or now - self._last_event < self.keepalive:
                continue
            try:
                await asyncio.wait_for(bot.puppet.ding("minyi-keepalive"), self.keepalive_timeout)
            except Exception as exc:
                return f"the puppet service did not answer a Ding ({exc!r})"
            self._last_event = time.monotonic()

    def _alive(self, *_args: object) -> None:
        """Any event from the service proves the stream is alive."""
        self._last_event = time.monotonic()

    @staticmethod
    async def _close_puppet(bot: _MinyiWechaty, *, polite: bool) -> None:
        """Drop the current puppet's listeners and channel; ``polite`` also sends Stop first."""
        puppet = getattr(bot, "_puppet", None)
        if puppet is None:
            return
        try:
            puppet._event_stream.remove_all_listeners()
            if polite and puppet._puppet_stub is not None:
                await asyncio.wait_for(puppet._puppet_stub.stop(), 2)
        except Exception as exc:  # the service may already be gone
            log.debug("wechat: Stop failed: %r", exc)
        channel = getattr(puppet, "channel", None)
        if channel is not None:
            channel.close()
            puppet.channel = None
        puppet._puppet_stub = None

    # ---- events from the puppet --------------------------------------------------------------

    def _bridge(self, puppet: Any) -> None:
        """Listen to the puppet's events (replaces ``Wechaty.init_puppet_event_bridge``)."""
        puppet.on("login", self._on_login)
        puppet.on("logout", self._on_logout)
        puppet.on("message", self._on_message)
        puppet.on("room-join", self._on_room_join)
        puppet.on("room-leave", self._on_room_leave)
        puppet.on("scan", self._on_scan)
        puppet.on("heartbeat", self._alive)
        puppet.on("dong", self._alive)
        # pyee raises an 'error' event nobody listens to, which would end the stream.
        puppet.on("error", self._on_error)

    async def _on_login(self, payload: EventLoginPayload) -> None:
        bot = self._bot
        if bot is None:
            return
        try:
            contact = bot.Contact.load(payload.contact_id)
            await contact.ready()
            name = contact.name
        except Exception as exc:
            log.warning("wechat: could not load the bot's own contact: %r", exc)
            name = ""
        bot.contact_id = payload.contact_id
        self.self_id = payload.contact_id
        self.username = name or self.username or (self.aliases[0] if self.aliases else "")
        self._generation += 1
        self._connected.set()

    def _on_logout(self, payload: EventLogoutPayload) -> None:
        log.warning("wechat: the bot account %s logged out", payload.contact_id)
        self._connected.clear()

    def _on_scan(self, payload: EventScanPayload) -> None:
        log.warning(
            "wechat: the puppet service waits for a QR-code scan (status %s): "
            "https://wechaty.js.org/qrcode/%s",
            payload.status,
            payload.qrcode or "",
        )

    def _on_error(self, payload: object) -> None:
        if isinstance(payload, EventErrorPayload):
            log.warning("wechat: puppet service error: %s", payload.data)
        elif isinstance(payload, BaseException):
            log.error("wechat: listener failed", exc_info=payload)
        elif payload:
            log.warning("wechat: puppet error event: %r", payload)

    def _on_message(self, payload: EventMessagePayload) -> None:
        """Synchronous on purpose: queue in stream order, fetch concurrently (``_intake_loop``)."""
        self._alive()
        message_id = payload.message_id
        self._enqueue(f"message:{message_id}", lambda: self._load(message_id))

    def _on_room_join(self, payload: EventRoomJoinPayload) -> None:
        self._on_membership(True, payload.room_id, payload.invited_ids, payload.inviter_id, payload)

    def _on_room_leave(self, payload: EventRoomLeavePayload) -> None:
        self._on_membership(
            False, payload.room_id, payload.removed_ids, payload.remover_id, payload
        )

    def _on_membership(
        self, joined: bool, room_id: str, member_ids: Sequence[str], actor_id: str, payload: Any
    ) -> None:
        timestamp = float(getattr(payload, "timestamp", 0) or 0)
        ids = list(member_ids or [])
        key = f"{'join' if joined else 'leave'}:{room_id}:{timestamp:.0f}:{','.join(sorted(ids))}"
        self._enqueue(
            key, lambda: self._load_membership(joined, room_id, ids, actor_id or "", timestamp)
        )

    def _enqueue(self, key: str, load: Callable[[], Awaitable[_Loaded]]) -> None:
        """Queue an event in stream order unless it is a redelivery; its loading starts at once."""
        try:
            if self._stopping or key in self._seen:
                return  # in flight or done: a redelivery
            self._seen[key] = None
            if len(self._seen) > self._seen_max:
                self._seen.popitem(last=False)
            task = asyncio.get_running_loop().create_task(self._fetch(key, load))
            self._intake.put_nowait(_Pending(key, task))
        except Exception:  # an exception here would end the SDK's event loop
            log.exception("wechat: could not queue event %s", key)

    async def _fetch(self, key: str, load: Callable[[], Awaitable[_Loaded]]) -> _Loaded:
        """Load one event's payloads; across a reconnect, retry on the new connection."""
        for attempt in range(3):
            generation = self._generation
            try:
                return await load()
            except (asyncio.CancelledError, _Unreadable):
                raise
            except Exception as exc:
                if attempt == 2:
                    raise
                # A failure caused by a dying connection often arrives before the supervisor has
                # noticed the stream end: give it a moment before deciding.
                await asyncio.sleep(0.2)
                reconnecting = not self._connected.is_set() or self._generation != generation
                if not reconnecting:
                    raise
                log.info("wechat: retrying %s after reconnect (%r)", key, exc)
                await asyncio.wait_for(self._reconnected(generation), self.login_timeout)
        return None  # pragma: no cover - the loop returns or raises

    async def _reconnected(self, generation: int) -> None:
        while self._generation == generation or not self._connected.is_set():
            await asyncio.sleep(0.05)

    async def _load(self, message_id: str) -> _Loaded:
        bot = self._bot
        if bot is None:
            return None
        generation = self._generation
        msg = bot.Message.load(message_id)
        try:
            await msg.ready()  # MessagePayload, then ContactPayload (talker) and RoomPayload
        except Exception as exc:
            # Without the message itself, or on a dying connection, fail (and retry); a missing
            # contact or room payload only costs the display name or the room topic.
            if msg._payload is None or self._generation != generation or not self.connected:
                raise
            log.info("wechat: message %s: talker/room payload unavailable: %r", message_id, exc)
        payload: MessagePayloadResponse = msg._payload
        self_id = bot.puppet.login_user_id or self.self_id
        talker = _payload_of(msg.talker())
        room = _payload_of(msg.room())
        alias = ""
        if room is not None and payload.from_id and payload.from_id != self_id:
            alias = await self._room_alias(bot, payload.room_id, payload.from_id)
        raw = json.dumps(
            {
                "message": _wire_json(payload),
                "talker": _wire_json(talker),
                "room": _wire_json(room),
            },
            ensure_ascii=False,
        )
        try:
            incoming = to_incoming(
                payload,
                talker,
                room,
                self_id=self_id,
                mention_self=self_id in (payload.mention_ids or []),
                self_name=self.username,
                talker_room_alias=alias,
                received_at=datetime.now(UTC),
            )
        except Exception as exc:
            raise _Unreadable(raw, f"{type(exc).__name__}: {exc}") from exc
        if incoming is None:
            return None
        self._remember_author(incoming)
        if incoming.reply_to_text and incoming.reply_to_sender_id == self_id:
            quoted = self._find_sent(incoming.chat.chat_id, incoming.reply_to_text)
            if quoted is not None:
                incoming = replace(incoming, reply_to_message_id=quoted)
        return incoming, raw

    def _remember_author(self, incoming: IncomingMessage) -> None:
        self._authors[(incoming.chat.chat_id, incoming.message_id)] = incoming.sender.user_id
        if len(self._authors) > self._seen_max:
            self._authors.popitem(last=False)

    def _remember_sent(self, chat_id: str, text: str, message_id: str) -> None:
        recent = self._recent_sent.setdefault(chat_id, deque(maxlen=50))
        recent.append((text, message_id))

    def _find_sent(self, chat_id: str, quoted: str) -> str | None:
        """The id of the bot's recent post in ``chat_id`` that ``quoted`` (maybe shortened) is from."""
        needle = quoted.rstrip("…. ").strip()
        if not needle:
            return None
        for text, message_id in reversed(self._recent_sent.get(chat_id, ())):
            if needle in text:
                return message_id
        return None

    async def _load_membership(
        self, joined: bool, room_id: str, member_ids: list[str], actor_id: str, timestamp: float
    ) -> _Loaded:
        bot = self._bot
        if bot is None:
            return None
        room = bot.Room.load(room_id)
        room._payload = None  # the member list changed: reload (ready(force_sync) logs a warning)
        await room.ready()
        self._member_alias = {k: v for k, v in self._member_alias.items() if k[0] != room_id}
        members = [await self._contact_payload(bot, m) for m in member_ids]
        actor = await self._contact_payload(bot, actor_id) if actor_id else None
        raw = json.dumps(
            {
                "event": "room-join" if joined else "room-leave",
                "room": _wire_json(room.payload),
                "members": [_wire_json(m) for m in members],
                "actor": _wire_json(actor),
                "timestamp": timestamp,
            },
            ensure_ascii=False,
        )
        try:
            incoming = to_membership(
                joined,
                room.payload,
                members,
                actor,
                timestamp=timestamp,
                self_id=bot.puppet.login_user_id or self.self_id,
                received_at=datetime.now(UTC),
            )
        except Exception as exc:
            raise _Unreadable(raw, f"{type(exc).__name__}: {exc}") from exc
        return (incoming, raw) if incoming is not None else None

    async def _contact_payload(self, bot: _MinyiWechaty, contact_id: str) -> ContactPayloadResponse:
        """The contact's payload, or one with just the id when the puppet has none."""
        contact = bot.Contact.load(contact_id)
        try:
            await contact.ready()
        except Exception as exc:
            if not self.connected:
                raise
            log.info("wechat: no contact payload for %s: %r", contact_id, exc)
        return _payload_of(contact) or ContactPayloadResponse(id=contact_id)

    async def _room_alias(self, bot: _MinyiWechaty, room_id: str, member_id: str) -> str:
        """The talker's nickname in the room (群昵称), cached; empty when the puppet has none."""
        key = (room_id, member_id)
        if key not in self._member_alias:
            try:
                member = await bot.puppet.room_member_payload(room_id, member_id)
                self._member_alias[key] = (member.room_alias or "") if member else ""
            except Exception as exc:  # optional in many puppets
                log.debug(
                    "wechat: no room member payload for %s in %s: %r", member_id, room_id, exc
                )
                self._member_alias[key] = ""
        return self._member_alias[key]

    async def _intake_loop(self) -> None:
        """Take loaded events in stream order and journal each before taking the next."""
        while True:
            pending = await self._intake.get()
            self._intake_busy = True
            try:
                entry = await self._entry(pending)
                if entry is not None:
                    await self._commit(entry)
            finally:
                self._intake_busy = False

    async def _entry(self, pending: _Pending) -> Received | None:
        """The journal entry of a loaded event; ``None`` when ignored or lost with the connection."""
        try:
            loaded = await pending.task
        except asyncio.CancelledError:
            raise
        except _Unreadable as exc:
            log.warning("wechat: event %s is unreadable (%s); journaled as such", pending.key, exc)
            return Received.unreadable(PLATFORM, pending.key, exc.raw, exc.error)
        except Exception as exc:
            # Forget it so that a redelivery by the service is processed.
            self._seen.pop(pending.key, None)
            log.warning("wechat: could not load event %s: %r", pending.key, exc)
            return None
        if loaded is None:
            return None
        incoming, raw = loaded
        chat = incoming.chat
        if chat.chat_id not in self._known_chats:
            # Operators need these ids for bot.toml (groups = ["wechat:<room id>"]).
            self._known_chats.add(chat.chat_id)
            kind = "room" if chat.is_group else "private chat with"
            log.info("wechat: first message in %s %r (%s)", kind, chat.title, chat.key)
        return Received.of(incoming, raw)

    async def _commit(self, entry: Received) -> None:
        """Journal ``entry``, retrying while the journal fails: the service will not send it again."""
        failures = 0
        while True:
            try:
                await self.journal([entry])
                return
            except Exception as exc:
                if self._stopping:
                    log.error(
                        "wechat: event %s lost at stop: could not journal it (%r)", entry.key, exc
                    )
                    return
                failures += 1
                wait = min(self.reconnect_delay * 2 ** (failures - 1), JOURNAL_RETRY_MAX)
                log.warning(
                    "wechat: could not journal %s (%r); retrying in %.1f s", entry.key, exc, wait
                )
                await self._sleep(wait)

    # ---- sending -----------------------------------------------------------------------------

    async def _live_bot(self) -> _MinyiWechaty:
        """The bot once connected; waits out a reconnect (up to ``send_timeout``)."""
        if self._bot is None:
            raise RuntimeError("the WeChat adapter is not started")
        if not self._connected.is_set():
            try:
                await asyncio.wait_for(self._connected.wait(), self.send_timeout)
            except TimeoutError:
                raise RuntimeError(
                    f"WeChat puppet service at {self.endpoint} is not connected"
                ) from None
        assert self._bot is not None
        return self._bot

    @staticmethod
    def is_room(message: OutgoingMessage) -> bool:
        """True when ``message`` goes to a room (group), False for a contact (private chat)."""
        return not message.is_private or message.chat_id.endswith("@chatroom")

    @contextlib.asynccontextmanager
    async def turn(self, message: OutgoingMessage) -> AsyncIterator[None]:
        """The room's slot under its rate limit, taken ahead of the send (``Sender.turn``); a
        contact's message has no limit here."""
        if not self.is_room(message) or self.limiter is None:
            yield
            return
        limiter = self.limiter
        async with self._turns.hold(
            message.chat_id, lambda taken: limiter.acquire(message.chat_id, taken=taken)
        ):
            yield

    def turn_delay(self, message: OutgoingMessage) -> float:
        """Seconds until the room's slot under its rate limit (``Sender.turn_delay``); a contact's
        message has no limit here."""
        if not self.is_room(message) or self.limiter is None:
            return 0.0
        return self.limiter.delay(message.chat_id)

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Post ``message`` to a room (``@Name`` prefixes for ``mention_user_ids``) or a contact.

        WeChat has no buttons and this SDK no quoted replies: ``buttons`` are ignored (texts carry
        numbered choices) and a room reply with ``reply_to_message_id`` but no ``mention_user_ids``
        @-mentions the author of that message instead (the mention is the link). Room posts wait
        for the per-room rate limit.

        This does what ``room.say(text, mention_ids=…)`` / ``contact.say(text)`` do, minus their final
        step: they re-read the sent message (one more MessagePayload round trip) and raise when that
        read fails, reporting a message that *was* sent as failed. The ``@Name`` prefix prefers the
        member's room nickname (what the room shows) over the contact name ``room.say`` uses.
        """
        if not message.text.strip():
            raise ValueError("cannot send an empty WeChat message")
        async with self._send_locks.hold(message.chat_id):  # one chat's messages keep their order
            return await self._send(message)

    async def _send(self, message: OutgoingMessage) -> SentMessage:
        room = self.is_room(message)
        if room and self.limiter is not None and not self._turns.take(message.chat_id):
            await self.limiter.acquire(message.chat_id)
        bot = await self._live_bot()
        text = message.text
        mentions = [m for m in message.mention_user_ids if m] if room else []
        if room and not mentions and message.reply_to_message_id:
            # No quoted replies in this SDK: a reply to someone's message @-mentions them instead.
            author = self._authors.get((message.chat_id, message.reply_to_message_id))
            if author and author != self.self_id:
                mentions = [author]
        if mentions:
            names = [await self._mention_name(bot, message.chat_id, m) for m in mentions]
            prefix = AT_SEPARATOR.join(f"@{n}" for n in names if n)
            text = f"{prefix} {text}" if prefix else text
        try:
            sent_id = await asyncio.wait_for(
                bot.puppet.message_send_text(
                    conversation_id=message.chat_id, message=text, mention_ids=mentions or None
                ),
                self.send_timeout,
            )
        except TimeoutError:
            # The request went out; the service may have posted it. Sending again could post twice.
            raise DeliveryUncertain(
                f"wechat: no answer from the puppet service within {self.send_timeout:g} s for a "
                f"message to {message.chat_id}; not sent again, it may already be posted"
            ) from None
        except GRPCError as exc:
            if exc.status in _REFUSED:
                # Not a friend of the bot account, an unknown contact, a room the bot has left.
                raise Undeliverable(
                    f"wechat: the puppet service refused to send to {message.chat_id}: "
                    f"{exc.status.name} {exc.message or ''}".rstrip()
                ) from None
            raise
        message_id = str(sent_id or f"local-{uuid.uuid4().hex}")
        self._remember_sent(message.chat_id, message.text, message_id)
        return SentMessage(
            platform=PLATFORM,
            chat_id=message.chat_id,
            message_id=message_id,
            sent_at=datetime.now(UTC),
        )

    async def _mention_name(self, bot: _MinyiWechaty, room_id: str, contact_id: str) -> str:
        """How ``contact_id`` is called in the room: room nickname, else contact name, else ''."""
        alias = self._member_alias.get((room_id, contact_id))
        if alias:
            return alias
        try:
            contact = bot.Contact.load(contact_id)
            await contact.ready()
            return str(contact.name or "")
        except Exception as exc:
            log.info("wechat: no name for @-mention of %s: %r", contact_id, exc)
            return ""

    async def answer_button(self, press: ButtonPress, notice: str | None = None) -> None:
        """WeChat has no inline buttons; nothing to acknowledge."""
        return None

    # ---- introspection for tests -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while logged in over a live event stream."""
        return self._connected.is_set()
