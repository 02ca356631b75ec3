"""Round trip through Telegram: update injected at a fake Bot API → acknowledgement received there.

Runs python-telegram-bot for real against the local fake server of the tests
(``tests/telegram/fake_bot_api.py``, 127.0.0.1 only) and measures, for N @-mentions:

* **latency** — one mention at a time: from ``inject`` of the update to the moment the fake server
  receives the ``sendMessage`` that acknowledges it (p50 / p99 / max), the next mention injected as
  soon as that arrives (minyi is still posting the official's alert and recording outcomes);
* **paced** — the same, a mention every 50 ms, so each finds the bot idle;
* **burst** — all N injected at once: throughput (acknowledgements per second) and latency
  percentiles under load.

With ``--stages`` the one-at-a-time phases also say where each bot's time goes (``Stages``): the p50
of each stage of the way from the update to the acknowledgement, for minyi from the adapter's journal
to the send's claim, timed by wrapping the dispatcher's and the postman's methods (a few microseconds
each). In the first phase a stage includes waiting for what the bot still does for the mention before
(posting the official's alert, recording both outcomes); paced, the bot is idle.

Two bots are measured in the same run:

* **floor** — a bare PTB echo bot (``MessageHandler`` + ``reply_text``,
  ``concurrent_updates=True``, the adapter's 16 HTTP connections): what the library and the fake
  cost by themselves;
* **minyi** — the whole app (``bot.app.build_app``: store on a SQLite file, text analysis, the
  handler chain, the dispatcher's redelivery check) behind ``TelegramAdapter``. Each mention opens a
  ticket, so besides the acknowledgement minyi also writes the question and sends the official a
  private alert with suggestions.

Flood limits: minyi's adapter normally queues sends at 20 messages a minute per group and 30 a
second overall, which would make the benchmark measure the limiter (500 acks ≥ 17 s). The mentions
come from N distinct groups, and the adapter is built with ``rate_limits=None`` (limits lifted —
only ever against a local fake). ``--limits`` keeps Telegram's limits to show their effect.

Usage::

    .venv/bin/python benchmarks/telegram_roundtrip.py            # 500 mentions, polling
    .venv/bin/python benchmarks/telegram_roundtrip.py --mode webhook --n 200
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "telegram")]

from fake_bot_api import ApiCall, FakeBotApi, supergroup, user  # noqa: E402

TOKEN = "7000000001:AAHbenchTokenForMinyiRoundtrip_k2Jq8"
PACE = 0.05
"""Seconds between mentions in the paced phase: the bot has posted the official's alert and recorded
both outcomes before the next mention comes (the first phase sends the next mention while it does)."""
CONNECTIONS = 16
"""HTTP connections to the Bot API, for both bots (TelegramAdapter's default). PTB's own default,
256 connections with a 1 s pool timeout, collapses under a 500-request burst: httpcore's pool
bookkeeping grows with the square of the connections and requests fail with ``TimedOut``."""
QUESTIONS = [
    "{}号楼电梯坏了好几天了，什么时候能修好？",
    "小区{}号门口的路灯不亮了，请问谁来修？",
    "{}单元楼道漏水严重，物业一直不处理怎么办？",
    "小区东门{}路公交站台什么时候恢复？",
    "请问{}号楼的停车位什么时候开放登记？",
]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Timer:
    """Matches acknowledgements at the fake server to the injections that caused them."""

    def __init__(self, api: FakeBotApi, is_ack: Callable[[ApiCall], bool]) -> None:
        self.started: dict[int, float] = {}
        self.latencies: dict[int, float] = {}
        self.waiters: dict[int, asyncio.Future[float]] = {}
        self.is_ack = is_ack
        api.listeners.append(self._on_call)

    def _on_call(self, call: ApiCall) -> None:
        if call.method != "sendMessage" or not self.is_ack(call):
            return
        chat = call.result["chat"]["id"]
        if chat in self.started and chat not in self.latencies:
            self.latencies[chat] = call.at - self.started[chat]
            waiter = self.waiters.pop(chat, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(self.latencies[chat])

    def expect(self, chat: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[chat] = future
        self.started[chat] = time.perf_counter()
        return future


class Stages:
    """Where an acknowledgement's time goes, one mention at a time: each mark is the first time
    a wrapped method was entered (``name>``) or left (``name<``) after the mention was injected, and a
    stage is the time between two marks; ``report`` prints each stage's p50."""

    def __init__(self, bounds: Sequence[tuple[str, str]]) -> None:
        self.bounds = bounds
        """(stage, the mark that ends it), in order; the first starts at the injection, the last
        ends when the fake server receives the acknowledgement (``server``)."""
        self.marks: dict[str, float] = {}
        self.rows: list[dict[str, float]] = []

    def begin(self) -> None:
        self.marks = {"inject": time.perf_counter()}

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.perf_counter())

    def end(self, latency: float) -> None:
        self.marks["server"] = self.marks["inject"] + latency
        self.rows.append(self.marks)
        self.marks = {}  # what the bot does until the next mention is not this one's

    @contextmanager
    def watching(self, targets: Sequence[tuple[object, str, str]]) -> Iterator[None]:
        """Mark entering and leaving each ``(owner, async method, name)`` while the block runs."""
        saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in targets]

        def wrap(method: Callable[..., Awaitable[Any]], name: str) -> Callable[..., Any]:
            async def marked(*args: Any, **kwargs: Any) -> Any:
                self.mark(f"{name}>")
                try:
                    return await method(*args, **kwargs)
                finally:
                    self.mark(f"{name}<")

            return marked

        for (owner, attr, name), (_, _, method) in zip(targets, saved, strict=True):
            setattr(owner, attr, wrap(method, name))
        try:
            yield
        finally:
            for owner, attr, method in saved:
                setattr(owner, attr, method)

    def report(self, name: str) -> str:
        parts, start = [], "inject"
        for stage, until in self.bounds:
            spans = [row[until] - row[start] for row in self.rows if start in row and until in row]
            parts.append(
                f"{stage} {statistics.median(spans) * 1000:.2f}" if spans else f"{stage} –"
            )
            start = until
        return f"{name:<6} {'':<8} stages, p50 ms: " + " | ".join(parts)


MINYI_STAGES = (
    ("PTB to the adapter's journal", "receive>"),
    ("journal commit", "receive<"),
    ("hand-off to the database thread", "batch>"),
    ("claim, roles, text analysis", "handlers>"),
    ("handlers", "handlers<"),
    ("outbox rows, unit commit", "batch<"),
    ("to the postman", "claim>"),
    ("send claimed (commit)", "claim<"),
    ("PTB send to the fake", "server"),
)
FLOOR_STAGES = (("PTB to the handler", "handler>"), ("PTB send to the fake", "server"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


def describe(name: str, phase: str, latencies: list[float], seconds: float | None = None) -> str:
    ms = [v * 1000 for v in latencies]
    line = (
        f"{name:<6} {phase:<8} n={len(ms):<4} p50={statistics.median(ms):7.2f} ms  "
        f"p99={percentile(ms, 99):7.2f} ms  max={max(ms):7.2f} ms"
    )
    if seconds is not None:
        line += f"  throughput={len(ms) / seconds:7.1f} acks/s ({seconds:.2f} s)"
    return line


async def run_phases(
    name: str,
    api: FakeBotApi,
    inject: Callable[[int, int], None],
    timer: Timer,
    n: int,
    base_chat: int,
    stages: Stages | None = None,
) -> list[str]:
    """One-at-a-time latency (each mention as soon as the last was acknowledged, then paced:
    one every ``PACE`` seconds, so the bot is idle when it comes), then a burst of ``n``; chats are
    numbered from ``base_chat``. ``stages``: timed in both one-at-a-time phases."""
    lines = []
    for phase, pause, offset in (("latency", 0.0, 0), ("paced", PACE, 200_000)):
        one_by_one = []
        timed = stages
        if timed is not None:
            timed.rows = []
        for i in range(n):
            chat = base_chat - offset - i
            await asyncio.sleep(pause)
            waiter = timer.expect(chat)
            if timed is not None:
                timed.begin()
            inject(chat, i)
            one_by_one.append(await asyncio.wait_for(waiter, 30))
            if timed is not None:
                timed.end(one_by_one[-1])
        lines.append(describe(name, phase, one_by_one))
        if timed is not None:
            lines.append(timed.report(name))
    burst_base = base_chat - 100_000
    waiters = []
    started = time.perf_counter()
    for i in range(n):
        chat = burst_base - i
        waiters.append(timer.expect(chat))
        inject(chat, i)
    burst = await asyncio.wait_for(asyncio.gather(*waiters), 150)
    elapsed = time.perf_counter() - started
    lines.append(describe(name, "burst", list(burst), elapsed))
    return lines


async def floor(api: FakeBotApi, n: int, mode: str, stages: bool = False) -> list[str]:
    """A bare python-telegram-bot echo bot; ``stages``: where its time goes (``Stages``)."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    timed = Stages(FLOOR_STAGES) if stages else None

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        if timed is not None:
            timed.mark("handler>")
        await update.message.reply_text(update.message.text)

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(api.base_url)
        .concurrent_updates(True)
        .connection_pool_size(CONNECTIONS)
        .pool_timeout(60.0)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    assert app.updater is not None
    port = free_port()
    if mode == "webhook":
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="floor",
            webhook_url=f"http://127.0.0.1:{port}/floor",
        )
    else:
        await app.updater.start_polling(poll_interval=0.0)
    await app.start()
    resident = user(5_200_000_000, "居民")
    timer = Timer(api, lambda call: True)

    def inject(chat: int, i: int) -> None:
        group = supergroup(chat, f"基准群{chat}")
        api.say(group, resident, f"@minyi_test_bot 你好 {i}", mention="@minyi_test_bot")

    try:
        return await run_phases("floor", api, inject, timer, n, -1_003_000_000_000, timed)
    finally:
        api.listeners.clear()
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        if mode == "webhook":
            await _delete_webhook(api)


async def _delete_webhook(api: FakeBotApi) -> None:
    api.webhook = None
    if api._delivery is not None:
        api._delivery.cancel()
        api._delivery = None


async def minyi(
    api: FakeBotApi, n: int, mode: str, limits: bool, workdir: Path, stages: bool = False
) -> list[str]:
    """The whole minyi app behind the Telegram adapter; ``stages``: where its time goes (the
    methods are wrapped before the app is built: the adapter and the postman keep bound methods)."""
    from bot.dispatch import Dispatcher
    from bot.outbox import Postman

    timed = Stages(MINYI_STAGES) if stages else None
    watched = [
        (Dispatcher, "receive", "receive"),
        (Dispatcher, "_batch_body", "batch"),
        (Dispatcher, "_dispatch_event", "handlers"),
        (Postman, "_claim_all", "claim"),
    ]
    with timed.watching(watched) if timed is not None else nullcontext():
        return await _minyi(api, n, mode, limits, workdir, timed)


async def _minyi(
    api: FakeBotApi, n: int, mode: str, limits: bool, workdir: Path, timed: Stages | None
) -> list[str]:
    from bot.adapters.telegram import RateLimits, TelegramAdapter
    from bot.app import build_app
    from bot.config import Settings

    groups = [-1_004_000_000_000 - i for i in range(n + 20)]
    groups += [-1_004_000_100_000 - i for i in range(n)]
    groups += [-1_004_000_200_000 - i for i in range(n)]
    official = user(5_300_000_001, "张伟")
    api.open_private_chat(official)
    settings = Settings.model_validate(
        {
            "database": {"url": f"sqlite:///{workdir / 'bench.db'}"},
            "departments": [
                {"name": "住房和城乡建设局", "keywords": ["物业", "电梯", "小区", "漏水"]},
                {"name": "交通运输局", "keywords": ["公交", "停车", "道路", "站台"]},
            ],
            "officials": [
                {
                    "name": "张伟",
                    "department": "住房和城乡建设局",
                    "identities": [f"telegram:{official['id']}"],
                    "groups": [f"telegram:{g}" for g in groups],
                }
            ],
        }
    )
    app = build_app(settings)
    port = free_port()
    adapter = TelegramAdapter(
        TOKEN,
        app.dispatcher.receive,
        base_url=api.base_url,
        aliases=settings.bot.aliases,
        mode=mode,
        webhook_port=port,
        webhook_url=f"http://127.0.0.1:{port}/minyi" if mode == "webhook" else "",
        webhook_secret="bench-webhook-secret",
        rate_limits=RateLimits() if limits else None,
        poll_timeout=10,
    )
    await adapter.start()
    app.dispatcher.connect(adapter, bot_username=adapter.username)
    app.adapters.append(adapter)
    await app.start_platforms({})  # none configured: starts handling what the adapter journals
    residents = [user(5_400_000_000 + i, f"居民{i}") for i in range(n + 20)]
    timer = Timer(api, lambda call: "已收到" in call.result["text"])

    def inject(chat: int, i: int) -> None:
        group = supergroup(chat, f"小区群{-chat % 100000}")
        text = "@minyi_test_bot " + QUESTIONS[i % len(QUESTIONS)].format(i % 30 + 1)
        api.say(group, residents[i], text, mention="@minyi_test_bot")

    try:
        # Warm up: jieba's dictionary, SQLAlchemy's compiled statements, PTB's connections.
        for i in range(20):
            chat = groups[n + i]
            waiter = timer.expect(chat)
            inject(chat, i)
            await asyncio.wait_for(waiter, 60)
        return await run_phases("minyi", api, inject, timer, n, groups[0], timed)
    finally:
        api.listeners.clear()
        await app.close_platforms()
        app.close()


async def main(n: int, mode: str, limits: bool, stages: bool = False) -> None:
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    lines = [f"telegram round trip: {n} mentions, {mode}, python-telegram-bot against a local fake"]
    async with FakeBotApi(TOKEN, bot_username="minyi_test_bot") as api:
        lines += await floor(api, n, mode, stages)
        with tempfile.TemporaryDirectory() as tmp:
            lines += await minyi(api, n, mode, limits, Path(tmp), stages)
        if api.violations:
            lines.append(f"spec violations: {api.violations[:5]}")
    lines.append(
        "minyi limits: "
        + ("Telegram's (20/min per group, 30/s overall)" if limits else "lifted (rate_limits=None)")
        + f"; total run {time.perf_counter() - started:.1f} s"
    )
    print("\n".join(lines))


def cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500, help="mentions per phase (default 500)")
    parser.add_argument("--mode", choices=["polling", "webhook"], default="polling")
    parser.add_argument(
        "--limits", action="store_true", help="keep Telegram's flood limits in minyi's adapter"
    )
    parser.add_argument(
        "--stages", action="store_true", help="also time each stage of the paced mentions' way"
    )
    args = parser.parse_args(argv)
    asyncio.run(main(args.n, args.mode, args.limits, args.stages))


if __name__ == "__main__":
    cli()
