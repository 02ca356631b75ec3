"""Fixtures of the crash suite: the seed, the fake Bot API on its own thread, and the ``minyi``
subprocesses (every one is killed at teardown, whatever happened).

``MINYI_CRASH_SEED=<n>`` replays a run's streams, bursts and kill triggers (the seed is printed and
named in every failure; where a kill lands still depends on timing);
``MINYI_CRASH_KILLS=0`` runs the SIGKILL tests without killing, to check the harness itself;
``MINYI_CRASH_UPDATES=<n>`` sizes their stream (default 2000).
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The fake Bot API lives beside the Telegram tests; its folder is not a package (a package named
# "telegram" would shadow python-telegram-bot), so it is put on the path as they have it.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "telegram"))

from crash_harness import Processes, ThreadedFakeApi
from fake_bot_api import SPEC_PATH, ApiSpec


@pytest.fixture
def crash_seed() -> int:
    """The run's seed: ``MINYI_CRASH_SEED`` or a fresh one, printed."""
    seed = int(os.environ.get("MINYI_CRASH_SEED") or random.SystemRandom().randrange(10**9))
    print(f"crash seed {seed} (replay with MINYI_CRASH_SEED={seed})", flush=True)
    return seed


@pytest.fixture
def crash_kills() -> int:
    """How many SIGKILLs a SIGKILL test makes (``MINYI_CRASH_KILLS``, default 3)."""
    return int(os.environ.get("MINYI_CRASH_KILLS", "3"))


@pytest.fixture(scope="session")
def crash_spec() -> ApiSpec:
    """The Bot API spec the fake checks requests against, or a skip without ../shared/data."""
    if not SPEC_PATH.is_file():
        pytest.skip(f"Telegram Bot API spec not found at {SPEC_PATH}; the fake server needs it")
    return ApiSpec(SPEC_PATH)


@pytest.fixture
def fake(crash_spec: ApiSpec) -> Iterator[ThreadedFakeApi]:
    """The fake Bot API serving from a background thread."""
    server = ThreadedFakeApi(crash_spec)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Start ``minyi`` subprocesses in ``tmp_path``; all still running are SIGKILLed at teardown."""
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()
