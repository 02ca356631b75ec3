"""Issue 13, "past one machine": two real ``minyi run`` workers on one PostgreSQL, in webhook mode
behind one address, share the inbox and the outbox.

The fake Bot API posts every update to one webhook address; a load balancer there (``Balancer``,
round robin, the next worker when one does not answer) hands each POST to a worker, which journals it
into the shared inbox. Both workers then handle whatever is pending and deliver whatever is queued.

* Both alive, a stream of 1,500 updates over 40 groups through the webhook, then a backlog of as many
  journaled into the inbox at once (both workers race over it): every update stored once, every
  question one ticket with one acknowledgement (the crash suite's checks), each group's replies in the
  order of the messages they answer, both workers doing part of the work, no send marked uncertain;
  then questions left waiting fall due for the 督办 reminder and each gets exactly one.
* One worker SIGKILLed mid-stream: the other takes its chats over (the balancer sends it everything,
  the inbox events the dead one held are handled once) — nothing lost, nothing twice; the only sends
  marked uncertain are ones the dead worker had claimed.

PostgreSQL only (SQLite takes one worker: ``test_a_second_worker_on_one_sqlite_file_is_refused``).
"""

from __future__ import annotations

import itertools
import random
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from crash_checks import check_journal_idle, check_telegram
from crash_harness import (
    BOT_NAME,
    BOT_USERNAME,
    BotProcess,
    Db,
    Feeder,
    Findings,
    Processes,
    ThreadedFakeApi,
    bot_env,
    run_minyi,
    wait_drained,
    wait_until,
    write_bot_toml,
)
from crash_stream import QUESTIONS, Roster, Stream, build_stream, telegram_roster
from fake_bot_api import user
from telegram import Update

from bot.adapters.telegram import to_incoming
from bot.events import Received, encode_event
from bot.work import utcnow
from storage import InboxEntry, Store, make_engine

pytestmark = pytest.mark.crash

UPDATES = 1500
THREADS = UPDATES // 25
SECRET = "workers-test-secret"
DRAIN_TIMEOUT = 180.0
REMIND = "【办理提醒 Q"

JSON = dict[str, Any]


class Balancer:
    """One webhook address in front of several workers: each POST goes to the next worker in turn,
    and to the one after when a worker does not answer (dead); 502 when none does (the fake Bot API
    then delivers the update again). Runs on the fake's loop."""

    def __init__(self, ports: Sequence[int]) -> None:
        self.ports = list(ports)
        self._turn = itertools.count()
        self.served: dict[int, int] = dict.fromkeys(self.ports, 0)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    async def start(self) -> Balancer:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_post("/hook", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self

    @property
    def url(self) -> str:
        """The one webhook address every worker registers."""
        return f"http://127.0.0.1:{self.port}/hook"

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {
            k: v for k, v in request.headers.items() if k.lower().startswith(("x-", "content-type"))
        }
        first = next(self._turn)
        for step in range(len(self.ports)):
            port = self.ports[(first + step) % len(self.ports)]
            try:
                async with self._session.post(
                    f"http://127.0.0.1:{port}/hook", data=body, headers=headers
                ) as response:
                    status = response.status
            except (aiohttp.ClientError, OSError, TimeoutError):
                continue
            if status == 200:
                self.served[port] += 1
            return web.Response(status=status)
        return web.Response(status=502)

    async def close(self) -> None:
        """Stop listening."""
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()


def free_ports(count: int) -> list[int]:
    """``count`` ports of 127.0.0.1 nobody listens on now."""
    ports = []
    for _ in range(count):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return ports


class Workers:
    """Two ``minyi run`` workers in webhook mode behind one ``Balancer``."""

    def __init__(
        self, fake: ThreadedFakeApi, processes: Processes, db_url: str, config: Path, count: int
    ) -> None:
        self.fake, self.processes, self.db_url, self.config = fake, processes, db_url, config
        self.ports = free_ports(count)
        self.balancer: Balancer = fake._await(Balancer(self.ports).start())
        self.started: list[BotProcess] = []

    def start(self, timeout: float = 120.0) -> list[BotProcess]:
        """Start every worker and wait until each says it is ready."""
        for number, port in enumerate(self.ports, 1):
            env = bot_env(self.db_url, self.fake)
            env.update(
                MINYI_TELEGRAM__MODE="webhook",
                MINYI_TELEGRAM__WEBHOOK_PORT=str(port),
                MINYI_TELEGRAM__WEBHOOK_URL=self.balancer.url,
                TELEGRAM_WEBHOOK_SECRET=SECRET,
                MINYI_WORKTIME__CHECK_SECONDS="0.5",
            )
            process = self.processes.spawn(
                ["--config", str(self.config), "run"], env=env, name=f"worker-{number}"
            )
            self.started.append(process)
        for process in self.started:
            ready = wait_until(
                lambda p=process: "minyi: ready" in _stderr(p), timeout, while_alive=process
            )
            if not ready:
                raise RuntimeError(f"{process.name} did not start:\n{process.stderr_tail()}")
        return self.started

    def close(self) -> None:
        """Stop the balancer (the processes are the fixture's)."""
        self.fake._await(self.balancer.close())


def _stderr(process: BotProcess) -> str:
    if not process.err_path.exists():
        return ""
    return process.err_path.read_text(encoding="utf-8", errors="replace")


def prepare(fake: ThreadedFakeApi, rng: random.Random) -> tuple[Roster, Stream]:
    """The crash suite's roster and stream (officials have pressed Start)."""
    roster = telegram_roster()
    fake.call(lambda: [fake.api.open_private_chat(o) for o in roster.officials])
    stream = fake.call(build_stream, fake.api, roster, rng, updates=UPDATES, threads=THREADS)
    return roster, stream


def journal_backlog(db_url: str, stream: Stream, first_update_id: int) -> None:
    """Journal every update of ``stream`` into the shared inbox at once, as the adapters would (a
    backlog both workers then race over: a platform's redelivery after an outage, a burst)."""
    entries = []
    for n, update in enumerate(stream.updates):
        data = {**update, "update_id": first_update_id + n}
        incoming = to_incoming(Update.de_json(data, None), BOT_USERNAME, [BOT_NAME])
        assert incoming is not None
        received = Received.of(incoming)
        entries.append(
            InboxEntry(received.platform, received.key, received.chat_key, encode_event(incoming))
        )
    engine = make_engine(db_url)
    try:
        Store(engine).journal(entries, utcnow())
    finally:
        engine.dispose()


def merged(one: Stream, two: Stream) -> Stream:
    """Both streams, as one for the checks."""
    return Stream(
        updates=one.updates + two.updates,
        group_messages=one.group_messages + two.group_messages,
        threads=one.threads + two.threads,
    )


def check_chat_order(findings: Findings, fake: ThreadedFakeApi) -> None:
    """In each group, the bot's replies follow the order of the messages they answer."""
    out_of_order = []
    replies: dict[int, list[int]] = {}
    for message in fake.sent():
        chat = message["chat"]["id"]
        if chat < 0 and "reply_to_message" in message:
            replies.setdefault(chat, []).append(message["reply_to_message"]["message_id"])
    for chat, order in replies.items():
        if order != sorted(order):
            out_of_order.append((chat, order))
    findings.figure("groups with replies", len(replies))
    findings.check(
        not out_of_order,
        f"{len(out_of_order)} groups got replies out of order, e.g. {out_of_order[:2]}",
    )


def worker_ids(db: Db, workers: Sequence[BotProcess]) -> dict[str, int]:
    """Each worker process's id in the ``workers`` table (by its pid)."""
    by_pid = {int(pid): int(i) for i, pid in db.rows("SELECT id, pid FROM workers")}
    return {w.name: by_pid[w.pid] for w in workers}


def sends_by_worker(db: Db) -> dict[int, int]:
    """How many sends each worker claimed."""
    return {
        int(w): int(n)
        for w, n in db.rows(
            "SELECT claimed_by, count(*) FROM outbox WHERE claimed_by IS NOT NULL "
            "GROUP BY claimed_by"
        )
    }


def check_reminders_once(
    findings: Findings, fake: ThreadedFakeApi, db: Db, roster: Roster, rng: random.Random
) -> None:
    """Questions left waiting, whose reminder time the test moves into the past (as the clock would):
    each gets its reminder exactly once, whichever worker's timer finds it first."""
    groups = roster.groups[:12]

    def ask() -> list[JSON]:
        asked = []
        for n, chat in enumerate(groups):
            asker = user(5_500_000_000 + n, f"等待{n}")
            text = QUESTIONS[n % len(QUESTIONS)].format(n=900 + n)
            message = fake.api.text_message(
                chat, asker, f"@{BOT_USERNAME} {text}", mention=f"@{BOT_USERNAME}"
            )
            asked.append({"message": message})
        return asked

    fake.inject(fake.call(ask))
    drain = wait_drained(fake, db, None, timeout=DRAIN_TIMEOUT)
    findings.check(drain.done, f"the waiting questions were not handled: {drain.how}")
    waiting = [
        int(q)
        for (q,) in db.rows(
            "SELECT id FROM questions WHERE state = 'open' AND reminded_at IS NULL ORDER BY id"
        )
    ]
    findings.figure("questions falling due for the reminder", len(waiting))
    findings.check(
        len(waiting) == len(groups), f"{len(waiting)} questions waiting, not {len(groups)}"
    )
    db.execute(
        "UPDATE questions SET remind_at = now() - interval '1 minute' WHERE id = ANY(:ids)",
        ids=waiting,
    )

    def reminded() -> bool:
        steps = db.scalar("SELECT count(*) FROM ticket_steps WHERE kind = 'reminded'")
        journal = db.journal()
        return int(steps or 0) >= len(waiting) and journal is not None and journal.busy == 0

    findings.check(wait_until(reminded, 30), "the reminders did not all go out within 30 s")
    posted: dict[int, int] = {}
    for message in fake.sent():
        text = message.get("text", "")
        if text.startswith(REMIND):
            number = int(text[len(REMIND) :].split("】", 1)[0])
            posted[number] = posted.get(number, 0) + 1
    findings.expect_count("reminders posted", {q: posted.get(q, 0) for q in waiting})
    steps = {
        int(q): int(n)
        for q, n in db.rows(
            "SELECT question_id, count(*) FROM ticket_steps WHERE kind = 'reminded' "
            "GROUP BY question_id"
        )
    }
    findings.expect_count("reminder steps recorded", {q: steps.get(q, 0) for q in waiting})


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_workers_share_the_inbox_and_each_chat_keeps_its_order(
    db_url: str, fake: ThreadedFakeApi, processes: Processes, tmp_path: Path, crash_seed: int
) -> None:
    rng = random.Random(crash_seed)
    findings = Findings("two workers on one PostgreSQL", crash_seed)
    roster, stream = prepare(fake, rng)
    config = write_bot_toml(tmp_path / "bot.toml", roster.entries)
    db = Db(db_url)
    workers = Workers(fake, processes, db_url, config, 2)
    try:
        started = workers.start()
        feeder = Feeder(fake, stream.bursts(rng, 40, 250), rng, pause=(0.1, 0.6)).start()
        feeder.join(DRAIN_TIMEOUT)
        drain = wait_drained(fake, db, None, timeout=DRAIN_TIMEOUT)
        findings.figure("drained the stream", f"{drain.how} after {drain.seconds:.1f} s")
        findings.check(drain.done, f"the workers did not drain the stream: {drain.how}")
        backlog = fake.call(
            build_stream,
            fake.api,
            roster,
            rng,
            updates=UPDATES,
            threads=THREADS,
            first_building=THREADS + 1,
        )
        journal_backlog(db_url, backlog, first_update_id=900_001)
        drain = wait_drained(fake, db, None, timeout=DRAIN_TIMEOUT)
        findings.figure("drained the backlog", f"{drain.how} after {drain.seconds:.1f} s")
        findings.check(drain.done, f"the workers did not drain the backlog: {drain.how}")
        for process in started:
            findings.check(process.alive(), f"{process.name} exited: {process.stderr_tail(4)}")
        check_telegram(findings, merged(stream, backlog), fake, db, kills=0)
        check_journal_idle(findings, db)
        check_chat_order(findings, fake)
        ids = worker_ids(db, started)
        by_worker = sends_by_worker(db)
        findings.figure("updates each worker journaled", dict(workers.balancer.served))
        findings.figure("sends each worker made", {n: by_worker.get(i, 0) for n, i in ids.items()})
        findings.check(
            all(by_worker.get(i, 0) > 0 for i in ids.values()),
            f"a worker sent nothing: {by_worker} for {ids}",
        )
        check_reminders_once(findings, fake, db, roster, rng)
        uncertain = int(db.scalar("SELECT count(*) FROM outbox WHERE state = 'uncertain'") or 0)
        findings.check(
            uncertain == 0, f"{uncertain} sends marked uncertain while both workers live"
        )
        findings.assert_ok()
    finally:
        workers.close()
        db.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_killed_workers_chats_are_taken_over_without_loss_or_repeats(
    db_url: str, fake: ThreadedFakeApi, processes: Processes, tmp_path: Path, crash_seed: int
) -> None:
    rng = random.Random(crash_seed)
    findings = Findings("one of two workers SIGKILLed", crash_seed)
    roster, stream = prepare(fake, rng)
    config = write_bot_toml(tmp_path / "bot.toml", roster.entries)
    db = Db(db_url)
    workers = Workers(fake, processes, db_url, config, 2)
    try:
        victim, survivor = workers.start()
        ids = worker_ids(db, [victim, survivor])
        feeder = Feeder(fake, stream.bursts(rng, 40, 250), rng, pause=(0.1, 0.6)).start()
        target = rng.randint(20, 120)
        fired = wait_until(lambda: fake.sent_count() >= target, 60, while_alive=victim)
        victim.kill()
        findings.figure(
            "kill", f"after {fake.sent_count()} messages posted ({'fired' if fired else 'timeout'})"
        )
        feeder.join(DRAIN_TIMEOUT)
        drain = wait_drained(fake, db, survivor, timeout=DRAIN_TIMEOUT)
        findings.figure("drained", f"{drain.how} after {drain.seconds:.1f} s")
        findings.check(drain.done, f"the survivor did not drain: {drain.how}")
        check_telegram(findings, stream, fake, db, kills=1)
        check_journal_idle(findings, db)
        check_chat_order(findings, fake)
        by_worker = sends_by_worker(db)
        findings.figure("sends each worker made", {n: by_worker.get(i, 0) for n, i in ids.items()})
        findings.check(
            by_worker.get(ids[survivor.name], 0) > 0, "the survivor sent nothing after the kill"
        )
        strays = db.rows(
            "SELECT id, claimed_by FROM outbox WHERE state = 'uncertain' AND "
            "claimed_by IS DISTINCT FROM :victim",
            victim=ids[victim.name],
        )
        findings.check(
            not strays,
            f"{len(strays)} sends of the live worker marked uncertain, e.g. {strays[:3]}",
        )
        findings.assert_ok()
    finally:
        workers.close()
        db.close()


def test_a_second_worker_on_one_sqlite_file_is_refused(
    fake: ThreadedFakeApi, processes: Processes, tmp_path: Path
) -> None:
    """SQLite has one writer: a second ``minyi run`` on the same file says so and exits."""
    url = f"sqlite:///{tmp_path / 'minyi.db'}"
    config = write_bot_toml(tmp_path / "bot.toml", telegram_roster(groups=4).entries)
    first = processes.spawn(["--config", str(config), "run"], env=bot_env(url, fake), name="first")
    assert wait_until(lambda: "minyi: ready" in _stderr(first), 120, while_alive=first), (
        first.stderr_tail()
    )
    second = run_minyi(["--config", str(config), "run"], env=bot_env(url, fake), cwd=tmp_path)
    assert second.returncode != 0
    assert "another minyi run already works on" in second.stderr
    assert first.alive()
