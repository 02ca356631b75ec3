"""WeChat round trip: a resident's @-mention injected at the fake puppet service → the bot's
MessageSendText arriving back at it. Offline, on 127.0.0.1, through the real python-wechaty SDK.

Two bots are measured in the same run against the same fake service:

* ``echo``  — a bare python-wechaty bot (its own ``Wechaty.start()`` and event bridge) that answers
  every room message with ``room.say(text, mention_ids=[talker])``: the floor the SDK itself sets;
* ``minyi`` — the whole app (``bot.app.build_app`` + ``WechatAdapter``, SQLite in a temp dir, the real
  handlers): each mention opens a ticket, is acknowledged in the room and sent to the official.

Each bot gets two phases of ``--count`` mentions spread over ``--rooms`` rooms (so the per-room limit of
20 posts a minute is never reached): *paced* at ``--rate`` messages/s (latency p50/p99), then *burst*
(all injected at once: throughput). Latency is injection → the first MessageSendText to that room for
that message (per room, in order). Run:

    .venv/bin/python benchmarks/wechat_roundtrip.py [--count 500] [--rate 20] [--rooms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "wechat")]

from fake_puppet import FakePuppetService  # noqa: E402
from wechat_support import BOT_ID, BOT_NAME, OFFICIAL_ID, populate  # noqa: E402

import bot.adapters.wechat as wechat_adapter  # noqa: E402  (applies the Python 3.11 shim first)

RESIDENT = "wxid_bench_resident"


@dataclass
class Phase:
    """Figures of one phase."""

    name: str
    latencies_ms: list[float]
    seconds: float
    missing: int

    def line(self) -> str:
        lat = sorted(self.latencies_ms)
        if not lat:
            return f"{self.name:<14} no replies"
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
        rate = len(lat) / self.seconds if self.seconds else float("nan")
        return (
            f"{self.name:<14} n={len(lat):>4}  p50={p50:7.2f} ms  p99={p99:7.2f} ms  "
            f"max={lat[-1]:7.2f} ms  throughput={rate:7.1f} msg/s  missing={self.missing}"
        )


def rooms_of(count: int) -> list[str]:
    return [f"bench{i:03d}@chatroom" for i in range(count)]


async def run_phase(
    fake: FakePuppetService, rooms: list[str], count: int, rate: float | None, name: str
) -> Phase:
    """Inject ``count`` mentions round-robin over ``rooms``; pair them with the room posts."""
    start_sent = len(fake.sent)
    injected: dict[str, deque[float]] = defaultdict(deque)
    interval = 1.0 / rate if rate else 0.0
    began = time.perf_counter()
    for i in range(count):
        room = rooms[i % len(rooms)]
        mid = fake.inject_room_message(
            room,
            RESIDENT,
            f"@{BOT_NAME}\u2005第{i}号：小区电梯坏了，请尽快维修",
            mention_ids=[BOT_ID],
        )
        injected[room].append(fake.injected_at[mid])
        if interval:
            target = began + (i + 1) * interval
            delay = target - time.perf_counter()
            await asyncio.sleep(max(0.0, delay))
        elif i % 50 == 49:
            await asyncio.sleep(0)  # let the stream writer run while injecting a burst
    pending = dict(injected)
    latencies: list[float] = []
    last = began
    deadline = time.perf_counter() + 60
    seen = start_sent
    while sum(len(q) for q in pending.values()) and time.perf_counter() < deadline:
        for entry in fake.sent[seen:]:
            queue = pending.get(entry.conversation_id)
            if queue:
                latencies.append((entry.at - queue.popleft()) * 1000)
                last = max(last, entry.at)
        seen = len(fake.sent)
        await asyncio.sleep(0.005)
    missing = sum(len(q) for q in pending.values())
    return Phase(name, latencies, last - began, missing)


async def measure(
    fake: FakePuppetService,
    rooms: list[str],
    args: argparse.Namespace,
    label: str,
) -> list[Phase]:
    paced = await run_phase(fake, rooms, args.count, args.rate, f"{label} paced")
    await asyncio.sleep(0.5)
    burst = await run_phase(fake, rooms, args.count, None, f"{label} burst")
    await asyncio.sleep(0.5)
    return [paced, burst]


async def echo_bot(fake: FakePuppetService) -> tuple[Any, Callable[[], Awaitable[None]]]:
    """A bare python-wechaty bot echoing room messages with an @-mention (the SDK's floor)."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from wechaty import Wechaty, WechatyOptions
    from wechaty_puppet.schemas.puppet import PuppetOptions

    options = WechatyOptions(
        puppet_options=PuppetOptions(end_point=fake.endpoint, token="bench"),
        host="127.0.0.1",
        port=wechat_adapter._free_local_port(),
        scheduler=AsyncIOScheduler(),
    )
    bot = Wechaty(options)
    logged_in = asyncio.Event()

    async def on_login(_contact: Any) -> None:
        logged_in.set()

    async def on_message(msg: Any) -> None:
        room = msg.room()
        if room is None or msg.talker().contact_id == BOT_ID:
            return
        await room.say(msg.text(), mention_ids=[msg.talker().contact_id])

    bot.on("login", on_login)
    bot.on("message", on_message)
    task = asyncio.create_task(bot.start())
    await asyncio.wait_for(logged_in.wait(), 10)

    async def stop() -> None:
        task.cancel()  # first: a stream broken by stop() would make start() sleep 60 s
        await asyncio.gather(task, return_exceptions=True)
        await bot.stop()

    return bot, stop


async def adapter_echo(fake: FakePuppetService) -> Any:
    """``WechatAdapter`` alone with an echoing journal: the adapter's cost without the app."""
    adapter: Any = None
    echoes: set[asyncio.Task[Any]] = set()

    async def journal(batch: Any) -> None:
        # Commits nothing; echoes each message in the background, as a dispatcher would.
        for entry in batch:
            message = entry.event
            if message is None:
                continue
            echo = asyncio.create_task(
                adapter.send(
                    wechat_adapter.OutgoingMessage(
                        platform="wechat",
                        chat_id=message.chat.chat_id,
                        text=message.text,
                        mention_user_ids=(message.sender.user_id,),
                    )
                )
            )
            echoes.add(echo)
            echo.add_done_callback(echoes.discard)

    adapter = wechat_adapter.WechatAdapter(fake.endpoint, "bench", journal, aliases=[BOT_NAME])
    await adapter.start()
    return adapter


async def minyi_app(fake: FakePuppetService, rooms: list[str], workdir: Path) -> Any:
    from bot.app import build_app
    from bot.config import Settings

    settings = Settings.model_validate(
        {
            "bot": {"name": BOT_NAME},
            "database": {"url": f"sqlite:///{workdir / 'bench.db'}"},
            "wechat": {"enabled": True},
            "departments": [{"name": "住房和城乡建设局", "keywords": ["物业", "电梯", "小区"]}],
            "officials": [
                {
                    "name": "张伟",
                    "department": "住房和城乡建设局",
                    "identities": [f"wechat:{OFFICIAL_ID}"],
                    "groups": [f"wechat:{room}" for room in rooms],
                }
            ],
        }
    )
    app = build_app(settings)
    await app.start_platforms(
        env={
            "WECHATY_PUPPET_SERVICE_ENDPOINT": fake.endpoint,
            "WECHATY_PUPPET_SERVICE_TOKEN": "bench",
        }
    )
    return app


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    rooms = rooms_of(args.rooms)
    fake = FakePuppetService(self_id=BOT_ID, self_name=BOT_NAME)
    populate(fake)
    fake.add_contact(RESIDENT, "测试居民")
    for room in rooms:
        fake.add_room(room, f"压测群{room[5:8]}", [RESIDENT, OFFICIAL_ID])
    await fake.start()
    results: list[Phase] = []
    began = time.perf_counter()
    try:
        wechat_adapter.reset_sdk_caches()
        _bot, stop = await echo_bot(fake)
        results += await measure(fake, rooms, args, "echo (SDK)")
        await stop()

        wechat_adapter.reset_sdk_caches()
        adapter = await adapter_echo(fake)
        results += await measure(fake, rooms, args, "adapter echo")
        await adapter.close()

        wechat_adapter.reset_sdk_caches()
        with tempfile.TemporaryDirectory() as tmp:
            app = await minyi_app(fake, rooms, Path(tmp))
            try:
                results += await measure(fake, rooms, args, "minyi")
                now = datetime.now(UTC)
                questions = app.store.summary(now - timedelta(days=1), now, now).total.questions
            finally:
                await app.close_platforms()
                app.close()
    finally:
        await fake.stop()
    print(
        f"wechat round trip: {args.count} mentions per phase over {len(rooms)} rooms, "
        f"paced at {args.rate:g}/s, then a burst; fake puppet service on {fake.endpoint}"
    )
    for phase in results:
        print("  " + phase.line())
    print(f"  minyi stored {questions} questions; total run {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=500, help="mentions per phase (default 500)")
    parser.add_argument("--rate", type=float, default=20.0, help="paced phase, messages/s")
    parser.add_argument("--rooms", type=int, default=100, help="rooms to spread the mentions over")
    asyncio.run(main(parser.parse_args()))
