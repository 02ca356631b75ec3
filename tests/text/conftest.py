"""Shared fixtures for the bot.text tests: where the public data lives and a tiny CLI driver."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.text.cli import add_subcommands

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _data_file(relative: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    path = DATA / relative
    if not path.is_file():
        pytest.skip(f"public data {relative} is absent (expected under ../shared/data)")
    return path


def _run_cli(argv: list[str]) -> int:
    """Parse ``argv`` with the text subcommands and run the chosen command."""
    parser = argparse.ArgumentParser(prog="minyi")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def run_cli() -> Callable[[list[str]], int]:
    """Run ``minyi eval``/``minyi train`` through ``add_subcommands``; returns the exit code."""
    return _run_cli


@pytest.fixture(scope="session")
def data_file() -> Callable[[str], Path]:
    """Find a file under ../shared/data, skipping the test when it is absent."""
    return _data_file
