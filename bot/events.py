"""The platform-neutral event model.

Adapters turn SDK objects into these frozen dataclasses and back; everything past an adapter speaks only
this vocabulary. This module imports nothing of the project so that any layer may depend on it.
Identifiers that cross a platform boundary are strings.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol


class Platform(StrEnum):
    """The chat platforms minyi can sit in."""

    TELEGRAM = "telegram"
    WECHAT = "wechat"
    CONSOLE = "console"
    TEST = "test"


class EventKind(StrEnum):
    """What happened in a chat."""

    MESSAGE = "message"
    """A new text message."""
    EDITED = "edited"
    """An earlier message's text was changed; ``message_id`` names the original message."""
    BUTTON = "button"
    """Somebody pressed an inline button; ``button`` carries its data."""
    MEMBER_JOINED = "member_joined"
    """``members`` joined ``chat``."""
    MEMBER_LEFT = "member_left"
    """``members`` left ``chat``."""


@dataclass(frozen=True, slots=True)
class Person:
    """One identity on one platform."""

    platform: str
    user_id: str
    display_name: str
    is_bot: bool = False
    anonymous: bool = False
    """Someone speaking as the chat itself (a Telegram group's anonymous administrator): the platform
    does not say who, so no official can be recognised behind it."""

    @property
    def key(self) -> str:
        """``platform:user_id``, the form bot.toml uses for identities."""
        return f"{self.platform}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Chat:
    """A group chat or a private (one-to-one) chat with the bot."""

    platform: str
    chat_id: str
    title: str = ""
    is_group: bool = True

    @property
    def key(self) -> str:
        """``platform:chat_id``, the form bot.toml uses for groups."""
        return f"{self.platform}:{self.chat_id}"


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """An inline-button press, with the id the platform needs to acknowledge it."""

    press_id: str
    data: str
    message_id: str
    """The bot message that carried the button."""


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One event from a chat, already converted from the platform's SDK objects."""

    platform: str
    chat: Chat
    sender: Person
    message_id: str
    text: str
    sent_at: datetime
    """Timezone-aware."""
    kind: EventKind = EventKind.MESSAGE
    mentions_bot: bool = False
    """True when the message @-mentions the bot by its platform handle (aliases are checked later)."""
    reply_to_message_id: str | None = None
    reply_to_sender_id: str | None = None
    reply_to_text: str | None = None
    button: ButtonPress | None = None
    members: tuple[Person, ...] = ()

    @property
    def is_private(self) -> bool:
        """True for a one-to-one chat with the bot."""
        return not self.chat.is_group


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: a label people see and the data the bot gets back (at most 64 bytes)."""

    label: str
    data: str


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message the bot wants to post."""

    platform: str
    chat_id: str
    text: str
    reply_to_message_id: str | None = None
    mention_user_ids: tuple[str, ...] = ()
    """People to @-mention (WeChat prefixes ``@Name``; Telegram relies on the reply)."""
    buttons: tuple[tuple[Button, ...], ...] = ()
    """Rows of inline buttons; platforms without buttons ignore them (texts carry numbered choices)."""
    is_private: bool = False


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What an adapter reports after posting: the platform's id for the new message."""

    platform: str
    chat_id: str
    message_id: str
    sent_at: datetime | None = field(default=None)


class Undeliverable(RuntimeError):
    """The platform refused a message for good (the person never started the bot, the chat is gone).

    Adapters raise it so callers can tell "cannot reach this person" from a bug.
    """


class DeliveryUncertain(RuntimeError):
    """The connection broke after the message had gone out: the platform may or may not have posted it.

    Adapters raise it instead of sending again, because a second attempt could post the message twice
    in a group of residents. Callers tell the person who asked for the message to check the chat.
    """


def event_key(message: IncomingMessage) -> str:
    """A key that is the same when a platform delivers the same event twice (the journal's dedup key)."""
    if message.kind is EventKind.BUTTON and message.button is not None:
        return f"button:{message.button.press_id}"
    if message.kind is EventKind.EDITED:
        digest = hashlib.sha1(message.text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return f"edit:{message.chat.chat_id}:{message.message_id}:{digest}"
    if message.kind in (EventKind.MEMBER_JOINED, EventKind.MEMBER_LEFT):
        return f"{message.kind}:{message.chat.chat_id}:{message.message_id}"
    return f"msg:{message.chat.chat_id}:{message.message_id}"


_SURROGATE = re.compile("[\ud800-\udfff]")
_UNHANDLEABLE = re.compile("[\x00\ud800-\udfff]")


def _clean(text: str) -> str:
    return _UNHANDLEABLE.sub("\ufffd", text)


def handleable(message: IncomingMessage) -> IncomingMessage:
    """``message`` with NUL and lone surrogates replaced by U+FFFD in what people wrote (text, names,
    titles): what handlers, text services and the store work with. The journal keeps the original."""
    if not any(
        _UNHANDLEABLE.search(t)
        for t in (
            message.text,
            message.reply_to_text or "",
            message.sender.display_name,
            message.chat.title,
            *(m.display_name for m in message.members),
        )
    ):
        return message
    return replace(
        message,
        text=_clean(message.text),
        reply_to_text=None if message.reply_to_text is None else _clean(message.reply_to_text),
        sender=replace(message.sender, display_name=_clean(message.sender.display_name)),
        chat=replace(message.chat, title=_clean(message.chat.title)),
        members=tuple(replace(m, display_name=_clean(m.display_name)) for m in message.members),
    )


def encode_event(message: IncomingMessage) -> str:
    """``message`` as JSON text, as the journal keeps it (``decode_event`` reads it back)."""
    data = asdict(message)
    data["sent_at"] = message.sent_at.isoformat()
    # Control characters (NUL too) come out as JSON escapes; so must lone surrogates, which no
    # database can encode: the journal keeps the text exactly as the platform delivered it.
    return _SURROGATE.sub(
        lambda m: f"\\u{ord(m.group()):04x}", json.dumps(data, ensure_ascii=False)
    )


def decode_event(text: str) -> IncomingMessage:
    """The inverse of ``encode_event``."""
    data: dict[str, Any] = json.loads(text)
    data["chat"] = Chat(**data["chat"])
    data["sender"] = Person(**data["sender"])
    data["members"] = tuple(Person(**m) for m in data.get("members") or ())
    data["sent_at"] = datetime.fromisoformat(data["sent_at"])
    data["kind"] = EventKind(data["kind"])
    if data.get("button") is not None:
        data["button"] = ButtonPress(**data["button"])
    return IncomingMessage(**data)


@dataclass(frozen=True, slots=True)
class Received:
    """One thing a platform delivered, on its way into the journal (the inbox).

    ``event`` is ``None`` when the adapter could not convert the payload: it is journaled all the same
    (as poison, with ``raw`` and ``error``) so that it is kept, visible, and never blocks what follows.
    """

    platform: str
    key: str
    """Deduplication key: a redelivery of the same event has the same key (see ``event_key``)."""
    chat_key: str
    """Events with the same chat key are handled one after another, in the order received."""
    event: IncomingMessage | None
    raw: str = ""
    """The platform's own payload (JSON text) when there is one, kept for diagnosis and poison."""
    error: str = ""
    """Why ``event`` is None."""

    @classmethod
    def of(cls, event: IncomingMessage, raw: str = "") -> Received:
        """The journal entry for a converted event."""
        return cls(event.platform, event_key(event), event.chat.key, event, raw)

    @classmethod
    def unreadable(cls, platform: str, key: str, raw: str, error: str) -> Received:
        """The journal entry for a payload that could not be converted (kept as poison)."""
        return cls(platform, key, f"{platform}:?", None, raw, error[:500])


Journal = Callable[[Sequence[Received]], Awaitable[None]]
"""What adapters hand received events to. It returns only once they are committed to the inbox, and
raises when they could not be (the adapter must then not confirm them to the platform, and retry)."""


@dataclass(frozen=True, slots=True)
class MenuCommand:
    """One entry of a platform's command menu (Telegram's ``setMyCommands``)."""

    name: str
    description: str
    in_groups: bool
    in_private: bool


class Sender(Protocol):
    """What the dispatcher needs from an adapter: its life cycle, its capabilities, a way to talk back."""

    platform: str
    username: str
    """The bot's own handle on the platform ("" when it has none); filled in by ``start``."""
    buttons: bool
    """True when the platform shows inline buttons; otherwise texts carry numbered choices."""

    async def start(self) -> None:
        """Connect and begin handing received events to the journal."""
        ...

    async def stop(self) -> None:
        """Stop receiving; everything received so far has been journaled when this returns. Sending
        still works (a stopping bot delivers what it owes)."""
        ...

    async def close(self) -> None:
        """Release the connections (stopping first, if not yet); sending is over."""
        ...

    def turn(self, message: OutgoingMessage) -> AbstractAsyncContextManager[None]:
        """``async with sender.turn(message):`` waits until ``message`` may go out under the
        platform's flood limits; its ``send`` inside the block then goes at once. The outbox claims a
        send only inside its turn (``bot.adapters.shared.Turns``)."""
        ...

    def turn_delay(self, message: OutgoingMessage) -> float:
        """Seconds ``message``'s turn would take to come now (0: at once). The outbox leaves a send
        whose turn is far off for later, so that one rate-limited group holds up only itself."""
        ...

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Post ``message`` and return its platform id. Long texts may be split; the first id counts."""
        ...

    async def answer_button(self, press: ButtonPress, notice: str | None = None) -> None:
        """Acknowledge a button press, optionally showing ``notice`` to the presser alone."""
        ...
