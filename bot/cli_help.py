"""Help texts of the ``minyi`` command line: every command and subcommand ends its ``--help`` with an
``examples:`` section of ``minyi …`` lines (``tests/test_cli_help.py`` walks the parser tree to hold
that), and the input formats several commands share are written here once."""

from __future__ import annotations

import argparse
import unicodedata
from typing import Any


def _width(text: str) -> int:
    """Columns ``text`` takes on a terminal (Chinese characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _two_columns(rows: list[tuple[str, str]]) -> str:
    """``rows`` as an indented table whose second column lines up on a terminal."""
    widest = max(_width(left) for left, _ in rows)
    return "\n".join(
        f"  {left}{' ' * (widest - _width(left) + 3)}{right}".rstrip() for left, right in rows
    )


CONSOLE_LINES = (
    "input, one message per line (stdin: a terminal, a pipe or a file):\n"
    + _two_columns(
        [
            (
                "王阿姨: @政务助手 3号楼电梯坏了",
                "a resident speaks in the default group (幸福里小区)",
            ),
            ("#阳光花园 刘先生: @政务助手 …", "… in another group, named after #"),
            ("~张伟: /reply Q1 1", "a private chat with the bot (officials' commands)"),
            ("[2026-11-16 09:00] 王阿姨: …", "sets the bot's clock first: reminders and 督办 due"),
            ("", "on the way fire in order (how days of work are replayed)"),
            ("// a comment", "skipped, as are blank lines"),
        ]
    )
)
"""The console's line format (``minyi run``)."""

PERIODS = (
    "periods: today, 24h, 7d, 30d (rolling, up to now); or --from 2026-11-16 --to 2026-11-22 "
    "(local days, both included)"
)
"""How the reports' periods are written."""


def examples(*lines: str, before: str = "") -> dict[str, Any]:
    """``add_parser``/``ArgumentParser`` keyword arguments for a help that ends with ``before`` (the
    input explained, if any) and an ``examples:`` section listing ``lines`` (each a ``minyi …``
    command, optionally followed by ``  # what it does``)."""
    epilog = (
        (before + "\n\n" if before else "") + "examples:\n" + "\n".join(f"  {x}" for x in lines)
    )
    return {"epilog": epilog, "formatter_class": argparse.RawDescriptionHelpFormatter}
