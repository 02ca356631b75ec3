"""The machinery the adapters share (``bot.adapters.shared``), without any platform SDK."""

from __future__ import annotations

import asyncio
import logging
import re
import sys

import pytest

from bot.adapters.shared import FRESH_TURN, KeyedLocks, RateLimiter, SecretRedactor, Turns
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


async def test_a_turn_whose_send_comes_late_gives_its_slot_back_and_the_send_waits_for_its_own():
    """A chat's turn counts a slot when it is granted. When the send comes later (its claim waited
    for the database writer), the slot is given back and the send takes one counted when it goes
    out: the window never holds more than its limit of real sends."""
    clock = SteppingClock()
    limiter = RateLimiter(2, 10.0, clock=clock, sleep=clock.sleep)
    turns = Turns()
    sent_at: list[float] = []

    async def send() -> None:  # as the adapters send inside a turn
        if not turns.take("g"):
            await limiter.acquire("g")
        sent_at.append(clock.now)

    await limiter.acquire("g")  # a send at 1000.0
    sent_at.append(clock.now)
    async with turns.hold("g", lambda taken: limiter.acquire("g", taken=taken)):
        await send()  # at once: its turn's slot is used
    async with turns.hold("g", lambda taken: limiter.acquire("g", taken=taken)):
        granted = clock.now
        clock.now += 9.5  # the claim waited: the turn granted at 1010.0 is stale
        await send()
    assert granted == 1010.0 and sent_at == [1000.0, 1000.0, 1019.5]
    clock.now = 1020.0
    await send()
    await send()
    # Counted at 1019.5, not 1010.0: the window from 1019.5 has room for one more, the next waits.
    assert sent_at[3:] == [1020.0, 1029.5]
    assert all(len([t for t in sent_at if s <= t < s + 10.0]) <= 2 for s in sent_at)
    async with turns.hold("g", lambda taken: limiter.acquire("g", taken=taken)):
        clock.now += FRESH_TURN / 2
        await send()  # fresh: the turn's own slot, no second wait
    assert sent_at[5] == 1030.0 + FRESH_TURN / 2


async def test_turns_beyond_the_lanes_wait_for_a_send_to_finish():
    """With two lanes (two connections), a third chat's turn waits until one of the two sends under
    way is done: the outbox never claims a send that would only wait for a connection."""
    turns = Turns(lanes=2)
    inside: list[str] = []
    done = asyncio.Event()

    async def send(chat: str) -> None:
        async with turns.hold(chat, lambda taken: asyncio.sleep(0)):
            inside.append(chat)
            if chat != "c":
                await done.wait()

    sends = [asyncio.create_task(send(chat)) for chat in "abc"]
    for _ in range(5):
        await asyncio.sleep(0)
    assert inside == ["a", "b"]
    done.set()
    await asyncio.gather(*sends)
    assert inside == ["a", "b", "c"]
