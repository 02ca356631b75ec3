"""The test roster and the dialogue harness: a group chat and private chats with the bot through the
in-memory test backend. A module of its own (not conftest) so that tests can import it: under
pytest-xdist, ``import conftest`` may find another folder's conftest."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 16, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        """Move forward by ``timedelta(**kwargs)``."""
        self.now += timedelta(**kwargs)


ROSTER = [
    {
        "name": "张伟",
        "department": "住房和城乡建设局",
        "identities": ["test:zhangwei"],
        "groups": ["test:xingfuli"],
    },
    {
        "name": "李娜",
        "department": "交通运输局",
        "identities": ["test:lina"],
        "groups": ["test:xingfuli", "test:yangguang"],
    },
    {
        "name": "陈静",
        "role": "supervisor",
        "identities": ["test:chenjing"],
        "groups": ["test:xingfuli", "test:yangguang"],  # her jurisdiction
    },
]
# The console roster of transcripts (console:NAME identities, group chat ids are titles).
CONSOLE_ROSTER = [
    {
        "name": "张伟",
        "department": "住房和城乡建设局",
        "identities": ["console:张伟"],
        "groups": ["console:幸福里小区"],
    },
    {
        "name": "李娜",
        "department": "交通运输局",
        "identities": ["console:李娜"],
        "groups": ["console:阳光花园"],
    },
    {
        "name": "陈静",
        "role": "supervisor",
        "identities": ["console:陈静"],
        "groups": ["console:幸福里小区", "console:阳光花园"],  # her jurisdiction
    },
    {"name": "赵局", "role": "admin", "identities": ["console:赵局"]},
]
DEPARTMENTS = [
    {"name": "住房和城乡建设局", "keywords": ["物业", "电梯", "小区", "漏水"]},
    {"name": "交通运输局", "keywords": ["公交", "停车", "道路", "站台"]},
    {"name": "生态环境局", "keywords": ["油烟", "噪音", "扰民"]},
]


class Dialogue:
    """A group chat and private chats with the bot, through the in-memory test backend."""

    def __init__(self, app: Any, clock: FakeClock) -> None:
        from bot.adapters.memory import MemoryAdapter

        self.app = app
        self.clock = clock
        self.bot = MemoryAdapter(app.dispatcher.handle, clock=clock)
        app.dispatcher.connect(self.bot, bot_username="minyi_bot")
        self.wang = self.bot.person("王阿姨", "wangayi")
        self.liu = self.bot.person("刘先生", "liu")
        self.zhang = self.bot.person("张伟", "zhangwei")
        self.li = self.bot.person("李娜", "lina")
        self.chen = self.bot.person("陈静", "chenjing")
        self.group = self.bot.group("幸福里小区", "xingfuli")
        self.other_group = self.bot.group("阳光花园", "yangguang")

    async def ask(self, text: str, by: Any = None, chat: Any = None) -> list[Any]:
        """A resident @-mentions the bot by its alias in a group."""
        return await self.bot.say(f"@政务助手 {text}", by=by or self.wang, chat=chat or self.group)

    def to(self, chat_id: str) -> list[Any]:
        """Everything the bot posted to ``chat_id`` so far."""
        return [p for p in self.bot.outbox if p.chat_id == chat_id]


def memory_event(memory: Any, body: str, by: Any, chat: Any, message_id: str) -> Any:
    """A message as the memory adapter would make it, not handled yet (to journal it directly, as
    the platforms' adapters do, for the background worker)."""
    from bot.events import IncomingMessage

    return IncomingMessage(
        platform=memory.platform,
        chat=chat,
        sender=by,
        message_id=message_id,
        text=body,
        sent_at=memory._clock(),
    )


class Transcript:
    """``minyi run``'s console, in process: a replay clock, the console adapter and the timer tick (督办
    stages and scheduled jobs) run before each timestamped line, for ``officials`` (a console roster)
    and any other settings (``schedule={…}``)."""

    def __init__(self, database_url: str, officials: list[dict[str, Any]], **settings: Any) -> None:
        from bot.adapters.console import ConsoleAdapter
        from bot.app import build_app
        from bot.config import Settings
        from bot.replay_clock import ReplayClock
        from handlers.overdue import OverdueReminder

        validated = Settings.model_validate(
            {
                "database": {"url": database_url},
                "departments": DEPARTMENTS,
                "officials": officials,
                **settings,
            }
        )
        self.clock = ReplayClock()
        self.app = build_app(validated, clock=self.clock)
        self.out = io.StringIO()
        timer = OverdueReminder(self.app.dispatcher)

        async def before_line(moment: datetime | None) -> None:
            await timer.catch_up(moment, self.clock.set)

        self.console = ConsoleAdapter(
            self.app.dispatcher.handle,
            out=self.out,
            clock=self.clock,
            zone=ZoneInfo("Asia/Shanghai"),
            before_line=before_line,
        )
        self.app.dispatcher.connect(self.console)

    async def feed(self, text: str) -> list[Any]:
        """Feed the lines of ``text``; returns everything posted meanwhile."""
        before = len(self.console.outbox)
        await self.console.feed(text.strip().splitlines())
        return self.console.outbox[before:]

    def history(self, number: int) -> list[tuple[str, datetime]]:
        """(kind, time) of each step of ticket ``Q{number}``."""
        return [(s.kind, s.at) for s in self.app.store.history(number)]
