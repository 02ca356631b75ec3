"""How long ``minyi run`` takes to be ready, and how much memory it holds once it is.

Times, from process start to the ``minyi: ready`` line on stderr, ``minyi run --config bot.toml`` with
stdin = /dev/null on a fresh SQLite file (no platform enabled, so it exits once the empty console input
ends; only the time to the ready line counts):

- first start: an empty cache directory, so the seed intent model is trained (and cached) — on a
  background thread since the ready line comes first;
- later starts: the cached seed model is loaded (in the background too).

The floor, in the same run: ``python -c "import bot.app"`` (the interpreter and minyi's libraries, from
process start to exit). Runs alternate so both see the same load on a shared machine. Then one more start
with stdin held open (so the process waits for input) gives its resident memory (VmRSS) once ready, and
the time from start to the acknowledgement of a first question typed at once (which waits for the
models and the template index still loading in the background), and the memory then; and the memory
once ``--messages`` (10,000) residents' group messages from ../shared/data have been handled.

    .venv/bin/python benchmarks/startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
READY = "minyi: ready"


def _env(cache: Path, database: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MINYI_CACHE_DIR"] = str(cache)
    env["MINYI_DATABASE__URL"] = f"sqlite:///{database}"
    env.pop("MINYI_TELEGRAM__ENABLED", None)
    env.pop("MINYI_WECHAT__ENABLED", None)
    return env


def _run_command() -> list[str]:
    return [sys.executable, "-m", "bot.cli", "--config", str(REPO / "bot.toml"), "run"]


QUESTION = "王阿姨: @政务助手 请问小区电梯坏了什么时候能修好？\n"
SECOND_QUESTION = "王阿姨: @政务助手 请问社保卡在哪里补办？\n"
DATA = REPO.parent / "shared" / "data" / "msgabench" / "intent.csv"


def time_to_ready(
    env: dict[str, str], stdin: int | None = None
) -> tuple[float, subprocess.Popen[str]]:
    """Seconds from starting ``minyi run`` to its ready line; returns the process, still running
    (with its stdout on a pipe when ``stdin`` is given)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        _run_command(),
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL if stdin is None else stdin,
        stdout=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if READY in line:
            return time.perf_counter() - start, proc
    proc.wait()
    raise SystemExit(f"minyi run never said it was ready (exit {proc.returncode})")


def ready_seconds(env: dict[str, str]) -> float:
    """Time to the ready line with stdin = /dev/null; waits for the process to finish."""
    seconds, proc = time_to_ready(env)
    assert proc.stderr is not None
    proc.stderr.read()
    if proc.wait(timeout=120) != 0:
        raise SystemExit(f"minyi run failed (exit {proc.returncode})")
    return seconds


def import_seconds() -> float:
    """The floor: start the interpreter and import bot.app."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import bot.app"], cwd=REPO, check=True)
    return time.perf_counter() - start


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def group_talk(fd: int, count: int) -> None:
    """Type ``count`` residents' group messages (the public data set, numbered so none repeats) at
    the console, then a second question, from a thread of its own (the pipe is smaller than what is
    typed, and what the bot prints meanwhile must be read)."""
    with DATA.open(encoding="utf-8") as f:
        rows = [" ".join(r["text"].split()) for r in csv.DictReader(f) if r["text"].strip()]
    lines = "".join(f"居民{i % 200}: {rows[i % len(rows)]} {i}\n" for i in range(count))
    typed = (lines + SECOND_QUESTION).encode()
    threading.Thread(target=os.write, args=(fd, typed), daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--messages", type=int, default=10_000, help="group messages before memory is read again"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        first, later, floor = [], [], []
        for i in range(args.repeat):
            cold = root / f"cold{i}"
            first.append(ready_seconds(_env(cold / "cache", cold / "minyi.db")))
            floor.append(import_seconds())
            later.append(ready_seconds(_env(root / "warm-cache", root / "warm.db")))
        read_fd, write_fd = os.pipe()
        try:
            start = time.perf_counter()
            seconds, proc = time_to_ready(_env(root / "warm-cache", root / "warm.db"), read_fd)
            rss = rss_mb(proc.pid)
            os.write(write_fd, QUESTION.encode())
            assert proc.stdout is not None
            answered = proc.stdout.readline() and time.perf_counter() - start
            rss_answered = rss_mb(proc.pid)
            group_talk(write_fd, args.messages)
            for line in proc.stdout:  # the second question's acknowledgement: all is handled
                if "编号 Q2" in line:
                    break
            rss_after = rss_mb(proc.pid)
        finally:
            os.close(write_fd)
            os.close(read_fd)
        assert proc.stdout is not None
        proc.stdout.read()
        assert proc.stderr is not None
        proc.stderr.read()
        proc.wait(timeout=120)
    # The first "later" start filled the warm cache: it is a first start of its own.
    later = later[1:] or later

    def show(label: str, values: list[float]) -> str:
        return (
            f"  {label:<44} median {statistics.median(values):6.2f} s  "
            f"min {min(values):6.2f} s  ({len(values)} runs)"
        )

    print("minyi run, process start to the 'minyi: ready' line (stdin = /dev/null, SQLite):")
    print(show("minyi, first start (seed model trained)", first))
    print(show("minyi, later starts (seed model from cache)", later))
    print(show("floor: python -c 'import bot.app'", floor))
    print(
        f"  ratio later starts / floor (median)          "
        f"{statistics.median(later) / statistics.median(floor):.2f}x"
    )
    print(f"  resident memory once ready (later start)     {rss:.0f} MB (ready in {seconds:.2f} s)")
    print(
        f"  first question answered, from process start  {answered:6.2f} s, "
        f"resident memory then {rss_answered:.0f} MB"
    )
    print(f"  resident memory after {args.messages} group messages     {rss_after:.0f} MB")


if __name__ == "__main__":
    main()
