"""A console group chat for people without a platform: one line in, the bot's replies printed.

Input lines: ``name: text`` speaks in the default group, ``#group name: text`` in another group, and
``~name: text`` in a private chat with the bot. Blank lines and lines starting with ``//`` are skipped.
A line may begin with a time in the configured zone, ``[2026-09-30 16:00] 王阿姨: …``: ``before_line``
hears it (the bot's clock is set to it, and timers due on the way fire) before the line is handled; a
line without one hears ``None`` (the wall clock). This is how transcripts replay days of work.

Each line gets a message id that no other run repeats: a line read from a file is named by the file's
beginning and its line number, so the same file fed again after a crash is recognised line by line
(what was journaled is not handled twice, the rest is); lines from a terminal or a pipe are named by
the run. Either way, a new run on the same database handles its new lines.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, tzinfo
from typing import TextIO

from bot.adapters.memory import MemoryAdapter, Posted
from bot.events import IncomingMessage

LINE = re.compile(
    r"^\s*(?:(?P<private>~)|#(?P<group>\S+)\s+)?(?P<name>[^:：]{1,40})[:：]\s?(?P<text>.*)$"
)
TIMESTAMP = re.compile(r"^\s*\[(?P<when>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?)\]\s*")


class ConsoleLineError(ValueError):
    """A console line that is not ``name: text``."""


def run_token() -> str:
    """A short name for this run, different from every earlier run's."""
    return f"r{time.time_ns():x}-"


def file_token(head: bytes) -> str:
    """A short name for an input file, from its first bytes (the same file gives the same name)."""
    return "f" + hashlib.sha1(head).hexdigest()[:12] + "-"


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
        id_prefix: str | None = None,
        zone: tzinfo = UTC,
        before_line: Callable[[datetime | None], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            handle,
            platform="console",
            clock=clock,
            username=bot_name,
            buttons=False,
            id_prefix=run_token() if id_prefix is None else id_prefix,
        )
        self.out = out
        self.default_group = default_group
        self.bot_name = bot_name
        self.zone = zone
        self.before_line = before_line

    def on_posted(self, posted: Posted) -> None:
        """Print a bot message with where it went."""
        message = posted.message
        where = f"私信 {message.chat_id}" if message.is_private else message.chat_id
        text = message.text.replace("\n", "\n    ")
        print(f"[{where}] {self.bot_name}: {text}", file=self.out, flush=True)

    async def feed_line(self, line: str, message_id: str | None = None) -> list[Posted]:
        """Act on one input line; raises ConsoleLineError for a malformed one."""
        stamp = TIMESTAMP.match(line)
        moment = None
        if stamp:
            try:
                moment = datetime.fromisoformat(stamp.group("when")).replace(tzinfo=self.zone)
            except ValueError:
                raise ConsoleLineError("时间格式应为 [2026-09-30 16:00]") from None
            line = line[stamp.end() :]
        match = LINE.match(line)
        if not match:
            raise ConsoleLineError(
                "每行格式为「名字: 内容」、「#群名 名字: 内容」或「~名字: 内容」"
                "（可在行首加时间，如 [2026-09-30 16:00]）"
            )
        if self.before_line is not None:
            await self.before_line(moment)
        person = self.person(match.group("name").strip())
        if match.group("private"):
            return await self.say(match.group("text"), by=person, message_id=message_id)
        chat = self.group(match.group("group") or self.default_group)
        return await self.say(match.group("text"), by=person, chat=chat, message_id=message_id)

    async def feed(self, lines: Iterable[str], *, ids: str | None = None) -> int:
        """Act on every line; returns how many were malformed (each reported, none fatal).

        ``ids``: name the lines ``<ids><line number>`` (a file's lines, see ``file_token``)."""
        bad = 0
        for number, raw in enumerate(lines, start=1):
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("//"):
                continue
            try:
                await self.feed_line(line, f"{ids}{number}" if ids is not None else None)
            except ConsoleLineError as exc:
                bad += 1
                print(f"(忽略) {exc}: {line}", file=self.out, flush=True)
        return bad
