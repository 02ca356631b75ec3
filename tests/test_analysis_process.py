"""The analysis process (``[text] analysis_process``): a backlog's texts are analysed in a process of
their own, beside the store, and stored exactly as if they had been analysed in the bot's own
process; a lone message is analysed at once, as always; and if the process dies, nothing is lost —
the texts are analysed in the bot's process and every message is stored once, with its intent; so
too when it stops answering (it is killed), and when it cannot be started at all; a bot killed
outright takes its analysis process with it; a closed one is never started again; and a chunk whose
other events another worker handled still brings the rest their analyses.

The residents' messages are the public data set's (``msgabench/intent.csv``), Traditional and
Simplified. A real process is spawned: these tests take a second or two each.
"""

from __future__ import annotations

import csv
import errno
import logging
import multiprocessing.context
import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.analysis_ahead import CHUNK, HERE, AnalysisAhead
from bot.events import Received
from bot.text import TextAnalyzer
from bot.text.offload import AnalysisProcess
from dialogue_support import Dialogue, memory_event

BACKLOG = 180
"""Messages journaled at once: most of a batch's worth."""


def residents(data_dir: Path, n: int) -> list[str]:
    """``n`` residents' messages of the public data set, numbered so none repeats."""
    with (data_dir / "msgabench" / "intent.csv").open(encoding="utf-8") as f:
        rows = [r["text"] for r in csv.DictReader(f) if r["text"].strip()]
    return [f"{rows[i % len(rows)]} {i}" for i in range(n)]


async def backlog(chat: Dialogue, bodies: list[str], tag: str = "b") -> list[tuple[Any, ...]]:
    """``bodies`` journaled at once in the group, as after an outage, then handled; the stored
    messages (text, intent, its confidence, department, topic) in order."""
    events = [
        Received.of(memory_event(chat.bot, body, chat.wang, chat.group, f"{tag}{i}"))
        for i, body in enumerate(bodies)
    ]
    await chat.app.dispatcher.receive(events)
    assert await chat.app.dispatcher.process_pending() == len(bodies)
    with chat.app.store.engine.connect() as connection:
        return list(
            connection.execute(
                text(
                    "select text, intent, intent_confidence, department, topic_key"
                    " from messages where from_official = false order by id"
                )
            )
        )


def dialogue_on(app_factory: Any, tmp_path: Path, clock: Any, name: str, process: bool) -> Any:
    return Dialogue(
        app_factory(f"sqlite:///{tmp_path / name}", text={"analysis_process": process}),
        clock,
    )


@pytest.mark.asyncio
async def test_a_backlog_is_analysed_in_the_process_and_stored_as_without_it(
    app_factory: Any, tmp_path: Path, clock: Any, data_dir: Path
) -> None:
    bodies = residents(data_dir, BACKLOG)
    plain = dialogue_on(app_factory, tmp_path, clock, "plain.db", process=False)
    assert plain.app.dispatcher.ahead.process is None  # off unless asked for
    expected = await backlog(plain, bodies)

    chat = dialogue_on(app_factory, tmp_path, clock, "process.db", process=True)
    ahead = chat.app.dispatcher.ahead
    assert ahead.start(wait=60), "the analysis process did not start"
    process = ahead.process
    assert process is not None
    # A lone message (no backlog) is analysed at once in the bot's process: nothing waits for IPC.
    await chat.bot.say("请问小区什么时候停水？", by=chat.liu, chat=chat.group)
    assert process.analysed == 0
    stored = await backlog(chat, bodies)
    assert stored[1:] == expected  # the same intents, confidences, departments and topics
    # Most of the backlog went to the process: all but the first few of each batch.
    assert process.analysed >= BACKLOG - 2 * HERE - CHUNK, process.analysed


@pytest.mark.asyncio
async def test_when_the_analysis_process_dies_no_message_is_lost(
    app_factory: Any, tmp_path: Path, clock: Any, data_dir: Path, caplog: Any
) -> None:
    bodies = residents(data_dir, BACKLOG)
    plain = dialogue_on(app_factory, tmp_path, clock, "plain.db", process=False)
    expected = await backlog(plain, bodies)

    chat = dialogue_on(app_factory, tmp_path, clock, "killed.db", process=True)
    ahead = chat.app.dispatcher.ahead
    assert ahead.start(wait=60)
    process = ahead.process
    assert process is not None and process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    with caplog.at_level(logging.WARNING, logger="bot.text.offload"):
        stored = await backlog(chat, bodies)
    assert stored == expected  # each message stored once, analysed in the bot's own process
    assert process.analysed == 0
    assert [r.getMessage()[:22] for r in caplog.records] == ["text analysis process:"]
    # It is not started again at every batch: the next backlog is analysed here too.
    more = await backlog(chat, [f"{b} 又" for b in bodies[:60]], tag="again")
    assert len(more) == BACKLOG + 60 and process.analysed == 0


BOT_THAT_IS_KILLED = """
import sys
from bot.app import build_app
from bot.config import Settings

settings = Settings.model_validate(
    {"database": {"url": sys.argv[1]}, "text": {"analysis_process": True}}
)
app = build_app(settings)
assert app.dispatcher.ahead.start(wait=60)
print(app.dispatcher.ahead.process.pid, flush=True)
sys.stdin.read()  # until killed
"""


def test_the_analysis_process_goes_when_the_bot_is_killed(tmp_path: Path) -> None:
    bot = subprocess.Popen(
        [sys.executable, "-c", BOT_THAT_IS_KILLED, f"sqlite:///{tmp_path / 'killed.db'}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert bot.stdout is not None
        child = int(bot.stdout.readline())
        watch = os.pidfd_open(child)  # readable once that process has exited
        assert not select.select([watch], [], [], 0)[0]  # alive while the bot is
        bot.kill()  # SIGKILL: the bot cannot stop it
        bot.wait()
        assert select.select([watch], [], [], 20)[0], "the analysis process outlived the bot"
    finally:
        bot.kill()


def test_a_chunk_is_taken_though_another_worker_handled_some_of_its_events(data_dir: Path) -> None:
    """Several workers share the inbox: a chunk sent for analysis may hold an event another worker
    handled meanwhile (let go by ``keep_only``); the chunk's other events still get their analyses."""
    ahead = AnalysisAhead(AnalysisProcess(TextAnalyzer().spec))
    try:
        assert ahead.start(wait=60)
        todo = list(enumerate(residents(data_dir, HERE + CHUNK)))
        assert ahead.send(todo) == todo[:HERE]
        gone = HERE + 1  # in the chunk sent, handled by another worker
        ahead.keep_only({i for i, _ in todo} - {gone})
        found = ahead.take(HERE)
        assert {i for i, _ in todo[HERE:]} - {gone} <= set(found)
        assert found[HERE].text == todo[HERE][1]
    finally:
        ahead.close()


@pytest.mark.asyncio
async def test_an_analysis_process_that_stops_answering_is_let_go(
    app_factory: Any,
    tmp_path: Path,
    clock: Any,
    data_dir: Path,
    caplog: Any,
    monkeypatch: Any,
) -> None:
    bodies = residents(data_dir, BACKLOG)
    plain = dialogue_on(app_factory, tmp_path, clock, "plain.db", process=False)
    expected = await backlog(plain, bodies)

    monkeypatch.setattr("bot.analysis_ahead.WAIT", 1.0)
    chat = dialogue_on(app_factory, tmp_path, clock, "silent.db", process=True)
    ahead = chat.app.dispatcher.ahead
    assert ahead.start(wait=60)
    process = ahead.process
    assert process is not None and process.pid is not None
    watch = os.pidfd_open(process.pid)  # readable once that process has exited
    os.kill(process.pid, signal.SIGSTOP)  # alive, but it never answers
    with caplog.at_level(logging.WARNING, logger="bot.text.offload"):
        stored = await backlog(chat, bodies)
    assert stored == expected  # every message stored once, analysed in the bot's own process
    assert [r.getMessage() for r in caplog.records] == [
        "text analysis process: no answer in 1 s; analysing in this process meanwhile"
    ]
    assert select.select([watch], [], [], 10)[0], "the silent process was left running"


def _no_process_left(self: Any) -> None:
    raise OSError(errno.EAGAIN, "Resource temporarily unavailable")  # as fork/exec at a ulimit


@pytest.mark.asyncio
async def test_a_process_that_cannot_be_started_costs_no_message(
    app_factory: Any, tmp_path: Path, clock: Any, data_dir: Path, monkeypatch: Any, caplog: Any
) -> None:
    """No process can be spawned (a process limit, no memory): the backlog is analysed in the bot's
    own process, every message stored once with its intent — none kept as poison, no resident
    apologised to — and the failure logged once, not tried again at every batch."""
    bodies = residents(data_dir, 60)
    expected = await backlog(dialogue_on(app_factory, tmp_path, clock, "plain.db", False), bodies)
    monkeypatch.setattr(multiprocessing.context.SpawnProcess, "start", _no_process_left)
    chat = dialogue_on(app_factory, tmp_path, clock, "nospawn.db", process=True)
    with caplog.at_level(logging.WARNING, logger="bot.text.offload"):
        stored = await backlog(chat, bodies)
        again = await backlog(chat, bodies[:40], tag="again")
    assert stored == expected
    assert len(again) == 100
    assert rows_of(chat, "select count(*) from inbox where state = 'poison'") == [(0,)]
    assert not [p for p in chat.bot.outbox if "抱歉" in p.text]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "could not start" in warnings[0], warnings


def test_a_closed_analysis_process_is_not_started_again() -> None:
    """``app.close`` can come before the warm-up's thread reaches its start (Ctrl-C at start-up), or
    while a batch still finishes: nothing starts a process after it."""
    ahead = AnalysisAhead(AnalysisProcess(TextAnalyzer().spec))
    ahead.close()
    try:
        assert not ahead.start(wait=1)
        todo = [(i, f"电梯坏了 {i}") for i in range(HERE + CHUNK + 5)]
        assert ahead.send(todo) == todo  # all of it analysed here
        process = ahead.process
        assert process is not None and process.pid is None
    finally:
        ahead.close()


def rows_of(chat: Dialogue, sql: str) -> list[Any]:
    """Plain rows of a query on the dialogue's store."""
    with chat.app.store.engine.connect() as connection:
        return list(connection.execute(text(sql)))
