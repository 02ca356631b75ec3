"""The machinery the adapters share (``bot.adapters.shared``), without any platform SDK."""

from __future__ import annotations

import asyncio
import logging
import re
import sys

import pytest

from bot.adapters.shared import KeyedLocks, RateLimiter, SecretRedactor
from tests_support import SteppingClock


async def test_keyed_locks_serialise_one_key_and_forget_it_afterwards():
    locks = KeyedLocks()
    order: list[str] = []
    inside = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with locks.hold("chat-a"):
            order.append("first in")
            inside.set()
            await release.wait()
            order.append("first out")

    async def second() -> None:
        async with locks.hold("chat-a"):
            order.append("second in")

    async def other_chat() -> None:
        async with locks.hold("chat-b"):
            order.append("other chat")

    one = asyncio.create_task(first())
    await inside.wait()
    two = asyncio.create_task(second())
    await other_chat()  # another key does not wait for chat-a
    assert order == ["first in", "other chat"] and len(locks) == 1
    release.set()
    await asyncio.gather(one, two)
    assert order == ["first in", "other chat", "first out", "second in"]
    assert len(locks) == 0  # nobody holds or waits: forgotten


async def test_acquire_along_counts_in_both_windows_at_the_same_moment():
    clock = SteppingClock()
    group = RateLimiter(2, 60.0, clock=clock, sleep=clock.sleep)
    overall = RateLimiter(3, 1.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await group.acquire("g", along=((overall, ""),))
    # The third waited a minute for the group's window; the overall window counted it then.
    assert clock.slept == [60.0]
    assert overall.delay() == 0.0 and group.delay("g") == pytest.approx(0.0)
    await overall.acquire()
    await overall.acquire()
    assert overall.delay() == pytest.approx(1.0)  # three in the overall second now


def test_rate_limiter_rejects_nonsense():
    with pytest.raises(ValueError):
        RateLimiter(0, 60.0)
    with pytest.raises(ValueError):
        RateLimiter(1, 0.0)


def test_redactor_masks_secrets_patterns_and_tracebacks():
    redactor = SecretRedactor()
    redactor.add("s3cret-token-42")
    redactor.add("abc")  # too short to mask safely: ignored
    redactor.add_pattern(re.compile(r"(token)<[^>]*>"), r"\1<[REDACTED]>")
    try:
        raise RuntimeError("failed with s3cret-token-42")
    except RuntimeError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "%s and token<%s>", ("s3cret-token-42", "x"), None
        )
        record.exc_info = sys.exc_info()
    assert redactor.filter(record)
    assert record.getMessage() == "[REDACTED] and token<[REDACTED]>"
    assert "s3cret-token-42" not in (record.exc_text or "") and "[REDACTED]" in record.exc_text
    assert redactor.redact("abc def") == "abc def"


def test_once_installed_the_redactor_covers_every_logger_not_only_the_named_ones():
    previous = logging.getLogRecordFactory()
    redactor = SecretRedactor()
    redactor.add("s3cret-token-42")
    try:
        redactor.install(["some.sdk"])
        for name in ("some.sdk.child", "asyncio", "a.library.made.later"):
            record = logging.getLogger(name).makeRecord(
                name, logging.DEBUG, __file__, 1, "GET /bot%s/getMe", ("s3cret-token-42",), None
            )
            assert record.getMessage() == "GET /bot[REDACTED]/getMe", name
    finally:
        logging.setLogRecordFactory(previous)
