"""The test roster and the dialogue harness: a group chat and private chats with the bot through the
in-memory test backend. A module of its own (not conftest) so that tests can import it: under
pytest-xdist, ``import conftest`` may find another folder's conftest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


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
