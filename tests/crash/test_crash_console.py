"""Issue 12 on the console channel: ``minyi run < file`` SIGKILLed half-way and run again with the same
file handles every line exactly once (the console journals lines with their byte offset and continues
after the last one); a later run with another file on the same database handles all of its lines
(none is mistaken for a line handled before).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from crash_checks import ACK, check_console, check_journal_idle, console_posts
from crash_harness import Db, Findings, Processes, bot_env, tail, wait_until, write_bot_toml
from crash_stream import ConsoleLine, console_roster, console_script

pytestmark = pytest.mark.crash

RUN_TIMEOUT = 120.0
"""Seconds a console run may take to reach the end of its file and exit."""


def write_script(path: Path, script: list[ConsoleLine]) -> Path:
    """The console input file: one line per ``ConsoleLine``."""
    path.write_text("".join(line.render() + "\n" for line in script), encoding="utf-8")
    return path


def acks_printed(stdout: str) -> int:
    """Acknowledgements the console has printed so far."""
    return sum(1 for _, text in console_posts(stdout) if ACK.search(text))


def test_console_rerun_after_sigkill_and_another_file_handle_every_line_once(
    processes: Processes, tmp_path: Path, crash_seed: int
) -> None:
    rng = random.Random(crash_seed)
    findings = Findings(
        "console: SIGKILL mid-file, the same file again, then another file", crash_seed
    )
    db_url = f"sqlite:///{tmp_path / 'minyi.db'}"
    config = write_bot_toml(tmp_path / "bot.toml", console_roster())
    env = bot_env(db_url)
    first = console_script(rng, lines=300, tag="甲", first_building=1)
    second = console_script(rng, lines=100, tag="乙", first_building=1001)
    file_a = write_script(tmp_path / "a.txt", first)
    file_b = write_script(tmp_path / "b.txt", second)
    command = ["--config", str(config), "run"]
    db = Db(db_url)
    try:
        # 1. Killed half-way through the file.
        questions = sum(1 for line in first if line.kind == "question")
        kill_after = rng.randint(questions // 5, questions * 3 // 5)
        run1 = processes.spawn(command, env=env, name="console-1", stdin=file_a)
        reached = wait_until(
            lambda: acks_printed(run1.stdout()) >= kill_after, RUN_TIMEOUT, while_alive=run1
        )
        ended = not run1.alive()
        run1.kill()
        findings.figure(
            "run 1",
            f"SIGKILL after {acks_printed(run1.stdout())} of {questions} acknowledgements "
            f"(aimed at {kill_after})",
        )
        findings.check(
            reached and not ended,
            f"run 1 was not killed mid-file (ended on its own: {ended}, exit "
            f"{run1.returncode}):\n" + tail(run1.stderr_tail()),
        )

        # 2. The same file again, to its end.
        run2 = processes.spawn(command, env=env, name="console-2", stdin=file_a)
        code = run2.wait(RUN_TIMEOUT)
        findings.figure("run 2 exit code", code)
        findings.check(code == 0, f"run 2 exited {code}:\n" + tail(run2.stderr_tail()))
        check_console(
            findings, first, [run1.stdout(), run2.stdout()], db, kills=1, label="same file"
        )

        # 3. Another file on the same database; what run 1's kill left uncertain is not its concern.
        earlier = int(db.scalar("SELECT coalesce(max(id), 0) FROM outbox"))
        run3 = processes.spawn(command, env=env, name="console-3", stdin=file_b)
        code = run3.wait(RUN_TIMEOUT)
        findings.figure("run 3 exit code", code)
        findings.check(code == 0, f"run 3 exited {code}:\n" + tail(run3.stderr_tail()))
        check_console(
            findings,
            second,
            [run3.stdout()],
            db,
            kills=0,
            label="another file",
            after_outbox_id=earlier,
        )
        check_journal_idle(findings, db)
        findings.assert_ok()
    finally:
        db.close()
