"""The crash suite's machinery: the fake Bot API on a thread of its own, ``minyi`` subprocesses, the
bot.toml they read, a read-only view of their database and a collector of findings.

The bot under test is the real ``minyi run`` (the console script of the interpreter running pytest),
started as a subprocess so that it can be SIGKILLed and SIGTERMed like a deployed bot. The fake Bot API
(``tests/telegram/fake_bot_api.py``, unchanged) runs in this process on its own event loop in a
background thread; test code talks to it through ``ThreadedFakeApi.call``, which runs a function on
that loop, so nothing the fake owns is touched from two threads.

Nothing here sleeps for correctness: every wait polls a condition (the fake's log, the database, the
process) against a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fake_bot_api import ApiCall, ApiSpec, FakeBotApi
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

JSON = dict[str, Any]
T = TypeVar("T")

TOKEN = "7000000001:AAHfakeTokenForMinyiCrashTests_q8RzW2"
"""A token shaped like a real one; only the fake server knows it."""
BOT_USERNAME = "minyi_test_bot"
BOT_NAME = "政务助手"
APOLOGY = "抱歉，处理您的消息时出现问题"
"""The dispatcher's apology when a handler failed: a crash-safe pipeline never needs it."""
GREETING = "您好！我是"
"""The bot's answer to small talk: a question of the stream taken for chatter would get it."""

POLL = 0.02
"""Seconds between two looks at a condition inside a wait loop."""


def minyi_command() -> list[str]:
    """The ``minyi`` console script next to the running interpreter (this worktree's venv)."""
    script = Path(sys.executable).with_name("minyi")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]


# --------------------------------------------------------------------------- the fake Bot API


class CrashBotApi(FakeBotApi):
    """The fake Bot API plus what the crash tests need: counters the kill triggers read, and
    ``inject_raw`` for payloads the spec check would refuse (an update python-telegram-bot cannot
    parse). Runs only on the loop of a ``ThreadedFakeApi``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.injected = 0
        self.sent_count = 0
        self.listeners.append(self._count)

    def _count(self, call: ApiCall) -> None:
        if call.method == "sendMessage":
            self.sent_count += 1

    def inject(self, update: JSON) -> int:
        """As ``FakeBotApi.inject`` (spec-checked), counted."""
        self.injected += 1
        return super().inject(update)

    def inject_raw(self, update: JSON) -> int:
        """Queue ``update`` exactly as given, without the spec check; returns its update_id."""
        update = dict(update)
        update.setdefault("update_id", next(self._update_ids))
        self.injected += 1
        self._pending.append(update)
        self._pending.sort(key=lambda u: u["update_id"])
        asyncio.get_running_loop().create_task(self._notify())
        return int(update["update_id"])

    @property
    def confirmed(self) -> int:
        """Updates the bot has confirmed (getUpdates offset past them)."""
        return self.injected - len(self._pending)

    def polled_since(self, at: float) -> bool:
        """True when a getUpdates call arrived after ``time.perf_counter()`` value ``at``."""
        for call in reversed(self.calls):
            if call.at <= at:
                return False
            if call.method == "getUpdates":
                return True
        return False

    def sent_messages(self) -> list[JSON]:
        """Every message the bot posted (the fake's results), in order."""
        return [c.result for c in self.calls_of("sendMessage")]


class ThreadedFakeApi:
    """A ``CrashBotApi`` serving on 127.0.0.1 from an event loop in a background thread."""

    def __init__(self, spec: ApiSpec, token: str = TOKEN) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="fake-bot-api", daemon=True
        )
        self._thread.start()
        self.api: CrashBotApi = self._await(self._start(spec, token))

    @staticmethod
    async def _start(spec: ApiSpec, token: str) -> CrashBotApi:
        api = CrashBotApi(token, bot_username=BOT_USERNAME, spec=spec)
        await api.start()
        return api

    def _await(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the fake's loop and return its result."""

        async def run() -> T:
            return fn(*args, **kwargs)

        return self._await(run())

    @property
    def base_url(self) -> str:
        """What ``[telegram] base_url`` must be."""
        return self.api.base_url

    def inject(self, updates: Sequence[JSON]) -> None:
        """Queue a burst of updates (spec-checked), in order."""

        def burst() -> None:
            for update in updates:
                self.api.inject(update)

        self.call(burst)

    def confirmed(self) -> int:
        """Updates confirmed by the bot so far."""
        return self.call(lambda: self.api.confirmed)

    def pending(self) -> int:
        """Updates the bot has not confirmed yet."""
        return self.call(lambda: len(self.api.pending))

    def sent_count(self) -> int:
        """Messages the bot has posted so far."""
        return self.call(lambda: self.api.sent_count)

    def polled_since(self, at: float) -> bool:
        """True once a getUpdates call arrived after ``at`` (a ``time.perf_counter()`` value)."""
        return self.call(self.api.polled_since, at)

    def sent(self) -> list[JSON]:
        """A copy of every message the bot posted."""
        return self.call(lambda: json.loads(json.dumps(self.api.sent_messages())))

    def problems(self) -> tuple[list[str], list[str]]:
        """(spec violations, requests Telegram would refuse) seen so far."""
        return self.call(lambda: (list(self.api.violations), list(self.api.errors)))

    def close(self) -> None:
        """Stop the server and its loop."""
        with contextlib.suppress(Exception):
            self._await(self.api.close(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class RosterEntry:
    """One person on the roster: name, department, role, identities and groups as bot.toml has them."""

    name: str
    department: str = ""
    role: str = "official"
    identities: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


DEPARTMENTS: dict[str, list[str]] = {
    "住房和城乡建设局": ["物业", "电梯", "小区", "漏水", "燃气"],
    "交通运输局": ["公交", "停车", "道路", "路面", "车库"],
    "生态环境局": ["噪音", "油烟", "扰民"],
    "城市管理局": ["垃圾", "路灯", "绿化", "清运"],
    "水务局": ["停水", "供水", "水压"],
}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def write_bot_toml(
    path: Path,
    roster: Sequence[RosterEntry],
    *,
    shutdown_timeout: float | None = None,
    read_timeout: float = 5.0,
) -> Path:
    """Write a bot.toml with ``roster`` and the crash suite's departments.

    The database URL, the Telegram switch and base URL come from the environment (``MINYI_…``), as
    the deployment contract has it. ``shutdown_timeout`` is written to ``[bot]`` when given.
    """
    lines = [
        "# written by tests/crash: the roster of the crash suite",
        "[bot]",
        f"name = {_toml(BOT_NAME)}",
        f"aliases = {_toml([BOT_NAME])}",
        'timezone = "Asia/Shanghai"',
        "answer_deadline_hours = 24",
    ]
    if shutdown_timeout is not None:
        lines.append(f"shutdown_timeout = {_toml(float(shutdown_timeout))}")
    lines += [
        "",
        "[text]",
        'ranker = "bm25"',
        'embedding_cache = ""',
        "",
        "[telegram]",
        f"read_timeout = {_toml(float(read_timeout))}",
        "",
        # The stream repeats a few phrases in every group, which early warning would rightly take
        # for a burst; its messages are not what this suite counts (tests/test_opinion.py shows them).
        "[opinion]",
        "min_count = 10000",
        "",
    ]
    for name, keywords in DEPARTMENTS.items():
        lines += ["[[departments]]", f"name = {_toml(name)}", f"keywords = {_toml(keywords)}", ""]
    for entry in roster:
        lines += [
            "[[officials]]",
            f"name = {_toml(entry.name)}",
            f"department = {_toml(entry.department)}",
            f"role = {_toml(entry.role)}",
            f"identities = {_toml(list(entry.identities))}",
            f"groups = {_toml(list(entry.groups))}",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def bot_env(database_url: str, fake: ThreadedFakeApi | None = None) -> dict[str, str]:
    """The environment of a ``minyi`` subprocess: this one without any ``MINYI_`` variable, plus the
    database URL and, with ``fake``, Telegram switched on against it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINYI_")}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    env["MINYI_DATABASE__URL"] = database_url
    env["PYTHONUNBUFFERED"] = "1"
    if fake is not None:
        env["MINYI_TELEGRAM__ENABLED"] = "true"
        env["MINYI_TELEGRAM__BASE_URL"] = fake.base_url
        env["TELEGRAM_BOT_TOKEN"] = TOKEN
    return env


# --------------------------------------------------------------------------- processes


class BotProcess:
    """One ``minyi`` subprocess with its stdout and stderr in files under ``logs``."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str],
        cwd: Path,
        logs: Path,
        name: str,
        stdin: Path | None = None,
    ) -> None:
        self.args = [*minyi_command(), *args]
        self.env, self.cwd, self.name = env, cwd, name
        self.out_path = logs / f"{name}.out"
        self.err_path = logs / f"{name}.err"
        self.stdin_path = stdin
        self.popen: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        """``time.perf_counter()`` when the process was spawned."""

    def start(self) -> BotProcess:
        """Spawn the process (stdin: the given file, else /dev/null)."""
        with (
            open(self.stdin_path or os.devnull, "rb") as stdin,
            open(self.out_path, "wb") as out,
            open(self.err_path, "wb") as err,
        ):
            self.started_at = time.perf_counter()
            self.popen = subprocess.Popen(
                self.args,
                stdin=stdin,
                stdout=out,
                stderr=err,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code (negative: the signal that ended it), or None while it runs."""
        return None if self.popen is None else self.popen.poll()

    def kill(self) -> None:
        """SIGKILL the process and reap it."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(30)

    def terminate(self, timeout: float) -> tuple[int | None, float]:
        """SIGTERM the process and wait up to ``timeout`` seconds; returns (exit code or None if
        still running, seconds it took)."""
        assert self.popen is not None
        began = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        try:
            code: int | None = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - began

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for the process to end on its own; its exit code or None."""
        assert self.popen is not None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stdout(self) -> str:
        """Everything the process printed so far."""
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def stderr_tail(self, lines: int = 12) -> str:
        """The last lines of its stderr, for failure messages."""
        if not self.err_path.exists():
            return ""
        text = self.err_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


class Processes:
    """Every ``minyi`` process a test started; ``close`` kills whatever still runs."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.logs = cwd / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.started: list[BotProcess] = []

    def spawn(
        self, args: Sequence[str], *, env: dict[str, str], name: str, stdin: Path | None = None
    ) -> BotProcess:
        """Start ``minyi ARGS``."""
        process = BotProcess(args, env=env, cwd=self.cwd, logs=self.logs, name=name, stdin=stdin)
        self.started.append(process)
        return process.start()

    def close(self) -> None:
        """SIGKILL and reap every process still running."""
        for process in self.started:
            with contextlib.suppress(Exception):
                process.kill()


def wait_until(
    condition: Callable[[], bool], timeout: float, *, while_alive: BotProcess | None = None
) -> bool:
    """Poll ``condition`` until true (True) or ``timeout`` seconds pass or ``while_alive`` dies
    (False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        if while_alive is not None and not while_alive.alive():
            return condition()
        time.sleep(POLL)


def run_minyi(
    args: Sequence[str], *, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a short ``minyi`` command (``doctor``, ``report``) to completion."""
    return subprocess.run(
        [*minyi_command(), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


# --------------------------------------------------------------------------- the database


class Db:
    """Queries on the bot's database with plain SQLAlchemy ``text()`` (no pool is kept,
    so nothing here holds a lock or a connection between two looks)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, poolclass=NullPool)

    def has_table(self, name: str) -> bool:
        """True when the table exists (False too while the database does not)."""
        try:
            with self.engine.connect() as connection:
                return inspect(connection).has_table(name)
        except Exception:
            return False

    def rows(self, sql: str, **params: Any) -> list[Any]:
        """All rows of a query."""
        with self.engine.connect() as connection:
            return list(connection.execute(text(sql), params))

    def scalar(self, sql: str, **params: Any) -> Any:
        """The first column of the first row."""
        with self.engine.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    def execute(self, sql: str, **params: Any) -> None:
        """One write, committed (a test moving a due time into the past, as the clock would)."""
        with self.engine.begin() as connection:
            connection.execute(text(sql), params)

    def journal(self) -> JournalState | None:
        """The inbox/outbox counts, or None while the tables do not exist (today's code)."""
        if not (self.has_table("inbox") and self.has_table("outbox")):
            return None
        inbox = dict(self.rows("SELECT state, count(*) FROM inbox GROUP BY state"))
        outbox = dict(self.rows("SELECT state, count(*) FROM outbox GROUP BY state"))
        return JournalState(inbox=inbox, outbox=outbox)

    def outbox_rows(self, state: str) -> list[OutboxRow]:
        """Outbox rows in ``state`` with the text their payload carries."""
        if not self.has_table("outbox"):
            return []
        found = self.rows(
            "SELECT id, platform, chat_id, kind, payload, platform_message_id FROM outbox "
            "WHERE state = :state ORDER BY id",
            state=state,
        )
        return [
            OutboxRow(r[0], str(r[1]), str(r[2]), str(r[3] or ""), payload_text(r[4]), r[5])
            for r in found
        ]

    def close(self) -> None:
        """Drop the engine."""
        self.engine.dispose()


@dataclass(frozen=True)
class JournalState:
    """Counts of inbox and outbox rows by state."""

    inbox: dict[str, int]
    outbox: dict[str, int]

    @property
    def busy(self) -> int:
        """Inbox rows still pending plus outbox rows pending or being sent."""
        return (
            self.inbox.get("pending", 0)
            + self.outbox.get("pending", 0)
            + self.outbox.get("sending", 0)
        )


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row, with the message text found in its payload."""

    id: int
    platform: str
    chat_id: str
    kind: str
    text: str
    platform_message_id: str | None


def payload_text(payload: Any) -> str:
    """The message text an outbox payload carries: its (first, possibly nested) ``text`` field when
    the payload is JSON, else the payload itself."""
    raw = payload.decode() if isinstance(payload, bytes) else payload
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return raw
    found = _find_text(raw)
    return found if found is not None else json.dumps(raw, ensure_ascii=False)


def _find_text(value: Any) -> str | None:
    if isinstance(value, dict):
        if isinstance(value.get("text"), str):
            return value["text"]
        for item in value.values():
            found = _find_text(item)
            if found is not None:
                return found
    if isinstance(value, list):
        for item in value:
            found = _find_text(item)
            if found is not None:
                return found
    return None


# --------------------------------------------------------------------------- draining


@dataclass
class Drain:
    """How waiting for the bot to finish its work ended."""

    done: bool
    how: str
    """``journal`` (inbox/outbox idle, the contract) or ``quiet`` (no tables yet: nothing changed
    for a while) or why it did not finish."""
    seconds: float
    journal: JournalState | None = None


def wait_drained(
    fake: ThreadedFakeApi | None,
    db: Db,
    process: BotProcess | None,
    *,
    timeout: float,
    quiet: float = 2.5,
    watch: Callable[[], Any] | None = None,
) -> Drain:
    """Wait until the bot has done everything it was given.

    With the journal: the fake holds no unconfirmed update, the inbox no pending row, the outbox no
    pending or sending row. Without it (today's code): no unconfirmed update and neither the sent
    log, the ``messages`` table nor ``watch()`` changed for ``quiet`` seconds.
    """
    began = time.monotonic()
    deadline = began + timeout
    last: Any = None
    still_since = time.monotonic()
    journal: JournalState | None = None
    while True:
        pending = fake.pending() if fake is not None else 0
        journal = db.journal()
        if journal is not None:
            if pending == 0 and journal.busy == 0:
                return Drain(True, "journal", time.monotonic() - began, journal)
        else:
            count = db.scalar("SELECT count(*) FROM messages") if db.has_table("messages") else 0
            now = (
                pending,
                fake.sent_count() if fake is not None else 0,
                count,
                watch() if watch else None,
            )
            if now != last:
                last, still_since = now, time.monotonic()
            elif pending == 0 and time.monotonic() - still_since >= quiet:
                return Drain(True, "quiet", time.monotonic() - began - quiet)
        if process is not None and not process.alive():
            return Drain(
                False, f"the bot exited ({process.returncode})", time.monotonic() - began, journal
            )
        if time.monotonic() >= deadline:
            return Drain(
                False,
                f"not drained after {timeout:.0f} s (unconfirmed updates {pending}, "
                f"journal {journal})",
                time.monotonic() - began,
                journal,
            )
        time.sleep(0.1)


# --------------------------------------------------------------------------- findings


@dataclass
class Findings:
    """What a test saw: figures (always printed) and problems (the test fails when there are any).

    Collecting instead of failing at the first problem means one run of today's code shows every
    figure — lost, duplicated, apologies — not just the first."""

    title: str
    seed: int | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def figure(self, name: str, value: Any) -> None:
        """Record a figure (printed with the outcome)."""
        self.figures[name] = value

    def check(self, ok: bool, problem: str) -> bool:
        """Record ``problem`` unless ``ok``; returns ``ok``."""
        if not ok:
            self.problems.append(problem)
        return ok

    def expect_count(
        self, what: str, actual: dict[Any, int], expected: dict[Any, int] | None = None
    ) -> None:
        """Each key must occur as often as ``expected`` says (default: once each key of ``actual``);
        reports the lost (fewer) and duplicated (more) keys with a few examples."""
        if expected is None:
            expected = dict.fromkeys(actual, 1)
        lost = sorted((k for k, n in expected.items() if actual.get(k, 0) < n), key=str)
        extra = sorted((k for k in actual if actual[k] > expected.get(k, 0)), key=str)
        self.figure(f"{what}: expected", sum(expected.values()))
        self.figure(f"{what}: lost", sum(expected[k] - actual.get(k, 0) for k in lost))
        self.figure(f"{what}: duplicated", sum(actual[k] - expected.get(k, 0) for k in extra))
        self.check(
            not lost,
            f"{what}: {len(lost)} of {len(expected)} missing, e.g. "
            f"{[(k, actual.get(k, 0)) for k in lost[:5]]}",
        )
        self.check(
            not extra,
            f"{what}: {len(extra)} more often than expected, e.g. "
            f"{[(k, actual[k], expected.get(k, 0)) for k in extra[:5]]}",
        )

    def report(self) -> str:
        """Figures and problems as text."""
        seed = f" (seed {self.seed})" if self.seed is not None else ""
        lines = [f"== {self.title}{seed}"]
        lines += [f"   {name}: {value}" for name, value in self.figures.items()]
        if self.problems:
            lines.append(f"   {len(self.problems)} problem(s):")
            lines += [f"   - {p}" for p in self.problems]
        return "\n".join(lines)

    def assert_ok(self) -> None:
        """Print the report and fail the test when a problem was recorded."""
        print(self.report(), flush=True)
        assert not self.problems, self.report()


def tail(text_: str, lines: int = 8) -> str:
    """The last ``lines`` lines of ``text_``, indented, for failure messages."""
    return "\n".join("      " + line for line in text_.splitlines()[-lines:])


def numbers(pattern: str, texts: Iterator[str] | Sequence[str]) -> list[int]:
    """Every ticket number ``pattern`` (one group, the digits) finds in ``texts``."""
    regex = re.compile(pattern)
    return [int(m.group(1)) for t in texts for m in regex.finditer(t)]


# --------------------------------------------------------------------------- driving a Telegram bot


class BotStartError(RuntimeError):
    """``minyi run`` exited before it polled the fake Bot API."""

    def __init__(self, process: BotProcess) -> None:
        super().__init__(
            f"minyi run exited with {process.returncode} before polling; stderr:\n"
            + tail(process.stderr_tail())
        )
        self.process = process


class TelegramBot:
    """``minyi run`` long-polling the fake, started, killed and restarted by a test."""

    def __init__(
        self,
        processes: Processes,
        fake: ThreadedFakeApi,
        *,
        database_url: str,
        config: Path,
        name: str = "bot",
    ) -> None:
        self.processes, self.fake, self.config, self.name = processes, fake, config, name
        self.env = bot_env(database_url, fake)
        self.process: BotProcess | None = None
        self.runs = 0
        self.startup_seconds: list[float] = []

    def start(self, timeout: float = 90.0) -> BotProcess:
        """Spawn ``minyi --config … run`` and wait until it polls the fake (``BotStartError`` if it
        exits first; ``TimeoutError`` if it never polls)."""
        self.runs += 1
        process = self.processes.spawn(
            ["--config", str(self.config), "run"], env=self.env, name=f"{self.name}-{self.runs}"
        )
        self.process = process
        polled = wait_until(
            lambda: self.fake.polled_since(process.started_at), timeout, while_alive=process
        )
        if not polled:
            if not process.alive():
                raise BotStartError(process)
            process.kill()
            raise TimeoutError(
                f"minyi run did not poll within {timeout:.0f} s; stderr:\n"
                + tail(process.stderr_tail())
            )
        self.startup_seconds.append(round(time.perf_counter() - process.started_at, 1))
        return process

    def kill(self) -> None:
        """SIGKILL the running process."""
        assert self.process is not None
        self.process.kill()


class Feeder:
    """Injects bursts of updates from a thread, with random pauses, whatever the bot is doing
    (Telegram keeps updates while the bot is down)."""

    def __init__(
        self,
        fake: ThreadedFakeApi,
        bursts: Sequence[Sequence[JSON]],
        rng: Any,
        pause: tuple[float, float] = (0.05, 0.4),
    ) -> None:
        self.fake, self.bursts, self.pause = fake, list(bursts), pause
        self.delays = [rng.uniform(*pause) for _ in self.bursts]
        self.fed = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)

    def start(self) -> Feeder:
        """Begin injecting."""
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for burst, delay in zip(self.bursts, self.delays, strict=True):
                if self._stop.is_set():
                    return
                self.fake.inject(burst)
                self.fed += len(burst)
                self._stop.wait(delay)
        except BaseException as exc:
            self.error = exc

    @property
    def done(self) -> bool:
        """True once every burst is injected."""
        return not self._thread.is_alive()

    def join(self, timeout: float = 120.0) -> None:
        """Wait for the last burst; re-raise what failed in the thread."""
        self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        """Stop after the current burst."""
        self._stop.set()
        self._thread.join(30)


@dataclass
class Trigger:
    """When to interrupt the bot: after ``amount`` more confirmed updates, more posted messages or
    seconds since the process started polling."""

    kind: str
    amount: float

    def __str__(self) -> str:
        unit = {"confirmed": "updates confirmed", "sent": "messages posted", "delay": "s"}[
            self.kind
        ]
        return f"after {self.amount:g} {unit}"


def random_trigger(
    rng: Any,
    fake: ThreadedFakeApi,
    feeder: Feeder | None,
    kinds: Sequence[str] = ("confirmed", "sent", "delay"),
) -> Trigger:
    """A trigger of a kind drawn from ``kinds``, with a random amount. Once every update is fed and
    confirmed, counting confirmations cannot fire any more: another kind is drawn."""
    if (feeder is None or feeder.done) and fake.pending() == 0 and len(kinds) > 1:
        kinds = [k for k in kinds if k != "confirmed"] or list(kinds)
    kind = rng.choice(list(kinds))
    if kind == "confirmed":
        return Trigger(kind, rng.randint(100, 600))
    if kind == "sent":
        return Trigger(kind, rng.randint(3, 30))
    return Trigger("delay", round(rng.uniform(0.3, 3.0), 2))


def wait_for_trigger(
    fake: ThreadedFakeApi,
    process: BotProcess,
    trigger: Trigger,
    *,
    feeder: Feeder | None = None,
    timeout: float = 15.0,
    stall: float = 2.0,
) -> str:
    """Wait until ``trigger`` fires (counted from now), the process dies, ``timeout`` passes, or —
    the stream all fed — nothing has been confirmed or posted for ``stall`` seconds (the bot may be
    idle: the trigger might never fire); returns what happened, for the report."""
    began = time.monotonic()
    confirmed, sent = fake.confirmed(), fake.sent_count()
    progress: list[Any] = [None, time.monotonic()]
    stalled = False

    def fired() -> bool:
        nonlocal stalled
        now_confirmed, now_sent = fake.confirmed(), fake.sent_count()
        if trigger.kind == "confirmed" and now_confirmed - confirmed >= trigger.amount:
            return True
        if trigger.kind == "sent" and now_sent - sent >= trigger.amount:
            return True
        if trigger.kind == "delay" and time.monotonic() - began >= trigger.amount:
            return True
        if (now_confirmed, now_sent) != progress[0]:
            progress[:] = [(now_confirmed, now_sent), time.monotonic()]
        elif (feeder is None or feeder.done) and time.monotonic() - progress[1] >= stall:
            stalled = True
            return True
        return False

    if wait_until(fired, timeout, while_alive=process):
        took = f"{time.monotonic() - began:.1f} s"
        if stalled:
            return f"{trigger}: fired early, no update confirmed nor message posted for {stall:g} s ({took})"
        return f"{trigger} ({took})"
    if not process.alive():
        return f"{trigger}: the bot had exited ({process.returncode})"
    return f"{trigger}: not reached in {timeout:.0f} s, interrupted anyway"
