"""An adapter with no network: events are made in code and sent messages are kept in a list.

It is minyi's test backend (handlers are tested as dialogues through it) and the engine under the
console adapter and the demo. It implements the same ``Sender`` contract as the real adapters.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.events import (
    ButtonPress,
    Chat,
    EventKind,
    IncomingMessage,
    OutgoingMessage,
    Person,
    SentMessage,
)


@dataclass(frozen=True, slots=True)
class Posted:
    """A message the bot posted, with the id the adapter gave it."""

    message_id: str
    message: OutgoingMessage

    @property
    def text(self) -> str:
        """The posted text."""
        return self.message.text

    @property
    def chat_id(self) -> str:
        """Where it went."""
        return self.message.chat_id

    def button_data(self) -> list[str]:
        """Callback data of every button, row by row."""
        return [b.data for row in self.message.buttons for b in row]


class MemoryAdapter:
    """Feeds events to ``handle`` and records what the bot sends back."""

    def __init__(
        self,
        handle: Callable[[IncomingMessage], Awaitable[object]],
        *,
        platform: str = "test",
        clock: Callable[[], datetime] | None = None,
        username: str = "minyi_bot",
        buttons: bool = True,
        id_prefix: str = "",
    ) -> None:
        """``id_prefix`` starts every message id this adapter makes up (the console gives each run
        its own, so a run never reuses an earlier run's ids on the same database)."""
        self.platform = platform
        self.username = username
        self.buttons = buttons
        self._handle = handle
        self._clock = clock or (lambda: datetime.now(UTC))
        self._counter = itertools.count(1)
        self._prefix = id_prefix
        self.outbox: list[Posted] = []
        self.notices: list[tuple[ButtonPress, str | None]] = []

    def _id(self, kind: str) -> str:
        return f"{self._prefix}{kind}{next(self._counter)}"

    # -- Sender contract

    async def start(self) -> None:
        """Nothing to connect."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def close(self) -> None:
        """Nothing to disconnect."""

    @contextlib.asynccontextmanager
    async def turn(self, message: OutgoingMessage) -> AsyncIterator[None]:
        """No flood limits here: every chat's turn is now."""
        yield

    def turn_delay(self, message: OutgoingMessage) -> float:
        """Every chat's turn is now."""
        return 0.0

    async def send(self, message: OutgoingMessage) -> SentMessage:
        """Keep the message and give it a fresh id."""
        posted = Posted(self._id("m"), message)
        self.outbox.append(posted)
        self.on_posted(posted)
        return SentMessage(self.platform, message.chat_id, posted.message_id, self._clock())

    async def answer_button(self, press: ButtonPress, notice: str | None = None) -> None:
        """Keep the notice shown to the presser."""
        self.notices.append((press, notice))

    def on_posted(self, posted: Posted) -> None:
        """Hook for subclasses (the console prints here)."""

    # -- making events

    def person(self, name: str, user_id: str | None = None) -> Person:
        """A person on this adapter's platform; the id defaults to the name."""
        return Person(self.platform, user_id or name, name)

    def group(self, title: str, chat_id: str | None = None) -> Chat:
        """A group chat on this adapter's platform; the id defaults to the title."""
        return Chat(self.platform, chat_id or title, title, is_group=True)

    def private(self, person: Person) -> Chat:
        """The private chat between ``person`` and the bot."""
        return Chat(self.platform, person.user_id, person.display_name, is_group=False)

    async def deliver(self, event: IncomingMessage) -> list[Posted]:
        """Hand one event to the bot; returns what it posted while handling it."""
        before = len(self.outbox)
        await self._handle(event)
        return self.outbox[before:]

    async def say(
        self,
        text: str,
        *,
        by: Person,
        chat: Chat | None = None,
        reply_to: Posted | str | None = None,
        mentions_bot: bool = False,
        message_id: str | None = None,
    ) -> list[Posted]:
        """``by`` writes ``text`` in ``chat`` (default: private chat with the bot)."""
        chat = chat or self.private(by)
        reply_id = reply_to.message_id if isinstance(reply_to, Posted) else reply_to
        reply_sender, reply_text = self._replied(reply_to)
        return await self.deliver(
            IncomingMessage(
                platform=self.platform,
                chat=chat,
                sender=by,
                message_id=message_id or self._id("u"),
                text=text,
                sent_at=self._clock(),
                mentions_bot=mentions_bot,
                reply_to_message_id=reply_id,
                reply_to_sender_id=reply_sender,
                reply_to_text=reply_text,
            )
        )

    def _replied(self, reply_to: Posted | str | None) -> tuple[str | None, str | None]:
        if isinstance(reply_to, Posted):
            return self.username, reply_to.text
        return None, None

    async def press(self, data: str, *, by: Person, on: Posted) -> list[Posted]:
        """``by`` taps the button with callback ``data`` under the bot's message ``on``."""
        chat = Chat(
            self.platform,
            on.message.chat_id,
            "",
            is_group=not on.message.is_private,
        )
        return await self.deliver(
            IncomingMessage(
                platform=self.platform,
                chat=chat,
                sender=by,
                message_id=on.message_id,
                text="",
                sent_at=self._clock(),
                kind=EventKind.BUTTON,
                button=ButtonPress(self._id("cb"), data, on.message_id),
            )
        )

    async def edit(self, message_id: str, text: str, *, by: Person, chat: Chat) -> list[Posted]:
        """``by`` edits their earlier message."""
        return await self.deliver(
            IncomingMessage(
                platform=self.platform,
                chat=chat,
                sender=by,
                message_id=message_id,
                text=text,
                sent_at=self._clock(),
                kind=EventKind.EDITED,
            )
        )

    async def membership(self, chat: Chat, member: Person, *, joined: bool) -> list[Posted]:
        """``member`` joins or leaves ``chat``."""
        return await self.deliver(
            IncomingMessage(
                platform=self.platform,
                chat=chat,
                sender=member,
                message_id=self._id("j"),
                text="",
                sent_at=self._clock(),
                kind=EventKind.MEMBER_JOINED if joined else EventKind.MEMBER_LEFT,
                members=(member,),
            )
        )
