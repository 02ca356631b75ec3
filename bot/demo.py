"""``minyi demo``: replay the bundled conversation through the real dispatcher and store.

The demo has its own roster and a simulated clock (so questions go through reminders, 督办 and 回访
without waiting days: moving the clock fires what falls due on the way, in order),
writes a fresh SQLite file, prints the transcript as it happens and ends with the supervisor summary.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.config import Settings

DEMO_ZONE = "Asia/Shanghai"
DEMO_PASSWORD = "minyi-demo"
"""The web console password of the demo's officials (the demo database only)."""
DEMO_CONSOLE_URL = "http://127.0.0.1:8080/?period=range&from=2026-11-16&to=2026-11-22"
"""The console showing the demo's week."""
_WAIT = re.compile(r"^(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}

DEMO_ROSTER = [
    {
        "name": "张伟",
        "department": "住房和城乡建设局",
        "identities": ["console:张伟"],
        "groups": ["console:幸福里小区", "console:阳光花园"],
    },
    {
        "name": "李娜",
        "department": "交通运输局",
        "identities": ["console:李娜"],
        "groups": ["console:幸福里小区", "console:创业路商户群"],
    },
    {
        "name": "王强",
        "department": "生态环境局",
        "identities": ["console:王强"],
        "groups": ["console:阳光花园", "console:创业路商户群"],
    },
    {
        "name": "陈静",
        "role": "supervisor",
        "identities": ["console:陈静"],
        # A supervisor's jurisdiction: the groups listed here (docs/SECURITY.md).
        "groups": ["console:幸福里小区", "console:阳光花园", "console:创业路商户群"],
    },
]
DEMO_DEPARTMENTS = [
    {"name": "住房和城乡建设局", "keywords": ["物业", "电梯", "小区", "充电桩", "快递柜"]},
    {"name": "交通运输局", "keywords": ["公交", "停车", "道路", "站台", "停车位"]},
    {"name": "生态环境局", "keywords": ["油烟", "噪音", "扰民", "污染"]},
    {"name": "市场监督管理局", "keywords": ["营业执照", "年报", "个体工商户"]},
    {"name": "卫生健康委员会", "keywords": ["疫苗", "卫生服务中心", "医院"]},
    {"name": "城市管理局", "keywords": ["路灯", "垃圾分类", "占道"]},
]


class SimulatedClock:
    """A clock the script moves; always timezone-aware."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def demo_settings(database_url: str) -> Settings:
    """Settings for the demo: its own roster and departments, the given database."""
    return Settings.model_validate(
        {
            "bot": {"timezone": DEMO_ZONE},
            "database": {"url": database_url},
            "departments": DEMO_DEPARTMENTS,
            "officials": DEMO_ROSTER,
        }
    )


def script_lines() -> list[str]:
    """The bundled conversation."""
    text = (Path(__file__).parent / "demo_conversation.txt").read_text(encoding="utf-8")
    return text.splitlines()


async def replay(lines: list[str], database_url: str, out: TextIO) -> None:
    """Replay ``lines`` against a fresh app on ``database_url``, printing as it goes."""
    from bot.adapters.console import ConsoleAdapter
    from bot.app import build_app
    from handlers.overdue import OverdueReminder
    from handlers.summary import HOT_PHRASES, format_summary, hot_topics

    zone = ZoneInfo(DEMO_ZONE)
    clock = SimulatedClock(datetime(2026, 11, 16, 8, 0, tzinfo=zone))
    app = build_app(demo_settings(database_url), clock=clock)
    console = ConsoleAdapter(app.dispatcher.handle, out=out, clock=clock)
    app.dispatcher.connect(console)
    reminder = OverdueReminder(app.dispatcher)

    def set_clock(moment: datetime | None) -> None:
        clock.now = moment if moment is not None else clock.now

    try:
        for line in lines:
            if line.startswith("@time "):
                moment = datetime.fromisoformat(line[6:].strip()).replace(tzinfo=zone)
                await reminder.catch_up(moment, set_clock)
            elif line.startswith("@wait "):
                match = _WAIT.match(line[6:].strip())
                if not match:
                    raise ValueError(f"bad demo directive: {line}")
                later = clock.now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
                # The 督办 stages and 回访 reminders due on the way fire in order.
                await reminder.catch_up(later, set_clock)
            elif line.startswith("@note "):
                print(f"\n—— {line[6:].strip()} ——", file=out)
            elif line.strip() and not line.startswith("//"):
                local = clock.now.astimezone(zone)
                print(f"{local:%m-%d %H:%M} {line}", file=out, flush=True)
                await console.feed([line])
        since = clock.now - timedelta(days=7)
        summary = app.store.summary(since, clock.now, clock.now, phrase_support=HOT_PHRASES)
        hot = hot_topics(summary)
        print("\n—— 督查汇总（minyi report --since 7d）——", file=out)
        out.write(format_summary(summary, "table", zone, hot))
    finally:
        app.close()


def run_demo(database_file: Path, out: TextIO) -> int:
    """Recreate ``database_file`` and replay the bundled conversation into it."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database_file}{suffix}").unlink(missing_ok=True)
    asyncio.run(replay(script_lines(), f"sqlite:///{database_file}", out))
    print(
        f"\n数据已写入 {database_file}；查看：minyi --database sqlite:///{database_file} "
        "report --since 30d",
        file=out,
    )
    open_console_accounts(f"sqlite:///{database_file}")
    print(
        f"督查工作台：minyi --database sqlite:///{database_file} web，然后打开 {DEMO_CONSOLE_URL} ，"
        f"用户名 陈静，密码 {DEMO_PASSWORD}",
        file=out,
    )
    return 0


def open_console_accounts(database_url: str) -> None:
    """Give every demo official the console password ``DEMO_PASSWORD`` (a demo database only)."""
    from bot.web.auth import hash_password
    from storage import Store, make_engine

    engine = make_engine(database_url)
    try:
        store = Store(engine)
        password_hash = hash_password(DEMO_PASSWORD)
        now = datetime.now(ZoneInfo(DEMO_ZONE))
        for official in DEMO_ROSTER:
            store.set_password_hash(str(official["name"]), password_hash, now)
    finally:
        engine.dispose()
