"""The command line for the administrators who run it (issue 16): every command's ``--help`` shows
examples that parse, long work draws a progress bar on a terminal and nothing when piped, and the
global options go before or after the command."""

from __future__ import annotations

import argparse
import csv
import os
import pty
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import GLOBAL_OPTIONS, build_parser, global_options_first
from tests_support import REPO

BAR = "━"  # what rich draws a bar with
CONTROL = re.compile(r"\r|\x1b\[")  # cursor movement and colour: a live display


def every_parser(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``parser`` and every subcommand's parser under it, found from the argparse tree."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from every_parser(child, (*path, name))


def example_lines(help_text: str) -> list[str]:
    """The lines of the ``examples:`` section at the end of a help text."""
    _, found, section = help_text.partition("\nexamples:\n")
    assert found, "no examples: section"
    return [line.strip() for line in section.splitlines() if line.strip()]


def example_argv(line: str) -> list[str]:
    """The arguments of the ``minyi`` command in an example line (a shell pipeline, a comment)."""
    command = next(part for part in line.split("|") if part.strip().startswith("minyi"))
    command = command.split("  #")[0]
    words = shlex.split(command)[1:]
    for redirect in (">", "<"):
        if redirect in words:
            words = words[: words.index(redirect)]
    return words


def command_of(argv: list[str]) -> list[str]:
    """``argv`` without ``minyi``'s own options (``--config X``, ``--database X``)."""
    words = global_options_first(argv)
    while words and words[0].split("=")[0] in GLOBAL_OPTIONS:
        words = words[1:] if "=" in words[0] else words[2:]
    return words


PARSERS = list(every_parser(build_parser()))


def test_the_tree_has_every_command_and_its_subcommands():
    names = {" ".join(path) for path, _ in PARSERS}
    # Nested commands are reached too (a typed list would miss the next one added).
    assert {"officials passwd", "ticket show", "eval suggest", "train"} <= names
    assert len(names) > 20


@pytest.mark.parametrize(
    ("path", "parser"), PARSERS, ids=[" ".join(p) or "minyi" for p, _ in PARSERS]
)
def test_every_help_ends_with_examples_that_parse(path, parser):
    lines = example_lines(parser.format_help())
    assert lines and all("minyi" in line for line in lines), lines
    own = [line for line in lines if command_of(example_argv(line))[: len(path)] == list(path)]
    assert own, f"no example of `minyi {' '.join(path)}` itself: {lines}"
    for line in lines:
        argv = example_argv(line)
        if "--help" in argv or "COMMAND" in argv:
            continue
        try:
            build_parser().parse_args(global_options_first(argv))
        except SystemExit as exc:  # argparse refused it: the example would not run
            pytest.fail(f"example does not parse ({exc.code}): {line}")


def test_helps_explain_the_input_people_type():
    helps = {" ".join(path): parser.format_help() for path, parser in PARSERS}
    run = helps["run"]
    assert "[2026-11-16 09:00] 王阿姨:" in run and "#阳光花园 刘先生:" in run and "~张伟:" in run
    assert "7d" in helps["report"] and "--from 2026-11-16 --to 2026-11-22" in helps["report"]
    assert "xlsx" in helps["report"] and "byte-order mark" in helps["report"]
    assert "--week 2026-W48" in helps["brief"]
    assert "label<TAB>text" in helps["train"] and "投诉/求助" in helps["eval intent"]


# ------------------------------------------------------------------ progress on a terminal only


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    rows = [
        ("请问社保卡怎么补办", "咨询"),
        ("请问小区停水什么时候恢复", "咨询"),
        ("想问一下公积金怎么提取", "咨询"),
        ("建议增加公交线路", "建言"),
        ("希望地铁延长运营时间", "建言"),
        ("建议在路口加装红绿灯", "建言"),
        ("投诉物业不作为，电梯坏了没人修", "投诉"),
        ("工地半夜施工噪音扰民", "投诉"),
        ("公交司机态度恶劣", "投诉"),
    ] * 4
    path = tmp_path / "history.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("text", "intent"), *rows])
    return path


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MINYI_CONFIG", "NO_COLOR")}
    env["TERM"] = "xterm-256color"
    env["COLUMNS"] = "100"
    return env


def on_a_terminal(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run ``minyi argv`` with stdout and stderr on a pseudo-terminal; its exit code and output."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *argv],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        cwd=cwd,
        env=environment(),
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return process.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


def piped(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment(),
        timeout=300,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "intent", "{file}", "--out", "{tmp}/intent"],
        ["eval", "intent", "{file}", "--cv", "2"],
        ["eval", "intent", "{file}"],
    ],
    ids=["train", "eval --cv", "eval"],
)
def test_long_work_shows_progress_on_a_terminal_and_none_when_piped(argv, labelled, tmp_path):
    argv = [a.format(file=labelled, tmp=tmp_path) for a in argv]
    code, shown = on_a_terminal(argv, tmp_path)
    assert code == 0, shown
    assert BAR in shown and CONTROL.search(shown), shown
    done = re.findall(r"(\d+)/(\d+)", shown)
    assert done and done[-1][0] == done[-1][1], shown  # the bar ends full

    result = piped(argv, tmp_path)
    assert result.returncode == 0, result.stderr
    for stream in (result.stdout, result.stderr):
        assert BAR not in stream and not CONTROL.search(stream), stream
    # The command says the same either way (the timings aside).
    assert result.stdout.splitlines()[0].split(",")[0] in shown


def test_the_brief_shows_progress_on_a_terminal(tmp_path):
    (tmp_path / "bot.toml").write_text((REPO / "bot.toml").read_text("utf-8"), encoding="utf-8")
    assert piped(["db", "upgrade"], tmp_path).returncode == 0
    out = tmp_path / "brief.html"
    code, shown = on_a_terminal(["brief", "--week", "2026-W48", "--out", str(out)], tmp_path)
    assert code == 0, shown
    assert BAR in shown and "2/2" in shown and out.read_text("utf-8").startswith("<!")
    result = piped(["brief", "--week", "2026-W48"], tmp_path)
    assert result.returncode == 0 and BAR not in result.stderr and not result.stderr.strip()
    assert result.stdout.startswith("<!")


# ------------------------------------------------------------------ options and pipes


def test_config_before_or_after_the_command_and_its_subcommand(tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('[database]\nurl = "sqlite:///elsewhere.db"\n', encoding="utf-8")
    before = piped(["--config", str(other), "db", "upgrade"], tmp_path)
    assert before.returncode == 0, before.stderr
    assert (tmp_path / "elsewhere.db").exists()
    for argv in (
        ["officials", "list", "--config", str(other)],
        ["officials", "--config", str(other), "list"],
        ["officials", "list", f"--config={other}"],
    ):
        result = piped(argv, tmp_path)
        assert result.returncode == 0, (argv, result.stderr)
    missing = piped(["ticket", "list", "--config", "missing.toml"], tmp_path)
    assert missing.returncode == 2 and "missing.toml: no such configuration file" in missing.stderr


def test_train_writes_exactly_the_path_asked_for(labelled, tmp_path):
    for name in ("intent", "intent.model"):
        out = tmp_path / "models" / name
        result = piped(["train", "intent", str(labelled), "--out", str(out)], tmp_path)
        assert result.returncode == 0, result.stderr
        assert out.is_file() and f"saved to {out} " in result.stdout
    # Nothing else was written beside them (no intent.npz).
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["intent", "intent.model"]


def test_templates_list_into_head_ends_quietly(tmp_path):
    pipeline = subprocess.run(
        f"{shlex.quote(sys.executable)} -m bot.cli templates list | head -1",
        shell=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment(),
        timeout=300,
    )
    assert pipeline.returncode == 0
    assert len(pipeline.stdout.splitlines()) == 1
    assert pipeline.stderr == ""  # no BrokenPipeError traceback
