"""A console group chat for people without a platform: one line in, the bot's replies printed.

Input lines: ``name: text`` speaks in the default group, ``#group name: text`` in another group, and
``~name: text`` in a private chat with the bot. Blank lines and lines starting with ``//`` are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TextIO

from bot.adapters.memory import MemoryAdapter, Posted
from bot.events import IncomingMessage

LINE = re.compile(
    r"^\s*(?:(?P<private>~)|#(?P<group>\S+)\s+)?(?P<name>[^:：]{1,40})[:：]\s?(?P<text>.*)$"
)


class ConsoleLineError(ValueError):
    """A console line that is not ``name: text``."""


class ConsoleAdapter(MemoryAdapter):
    """Reads chat lines, prints what the bot says."""

    def __init__(
        self,
        handle: Callable[[IncomingMessage], Awaitable[object]],
        *,
        out: TextIO,
        default_group: str = "幸福里小区",
        bot_name: str = "政务助手",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(handle, platform="console", clock=clock, username=bot_name)
        self.out = out
        self.default_group = default_group
        self.bot_name = bot_name

    def on_posted(self, posted: Posted) -> None:
        """Print a bot message with where it went."""
        message = posted.message
        where = f"私信 {message.chat_id}" if message.is_private else message.chat_id
        text = message.text.replace("\n", "\n    ")
        print(f"[{where}] {self.bot_name}: {text}", file=self.out, flush=True)

    async def feed_line(self, line: str) -> list[Posted]:
        """Act on one input line; raises ConsoleLineError for a malformed one."""
        match = LINE.match(line)
        if not match:
            raise ConsoleLineError(
                "每行格式为「名字: 内容」、「#群名 名字: 内容」或「~名字: 内容」"
            )
        person = self.person(match.group("name").strip())
        if match.group("private"):
            return await self.say(match.group("text"), by=person)
        chat = self.group(match.group("group") or self.default_group)
        return await self.say(match.group("text"), by=person, chat=chat)

    async def feed(self, lines: Iterable[str]) -> int:
        """Act on every line; returns how many were malformed (each reported, none fatal)."""
        bad = 0
        for raw in lines:
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("//"):
                continue
            try:
                await self.feed_line(line)
            except ConsoleLineError as exc:
                bad += 1
                print(f"(忽略) {exc}: {line}", file=self.out, flush=True)
        return bad
