"""Machinery the chat adapters share: flood control, secrets kept out of logs, per-key serialisation.

* ``RateLimiter`` — a sliding window per key (Telegram: per group and overall; WeChat: per room).
  Callers wait their turn in order; nothing is dropped.
* ``SecretRedactor`` / ``install_redaction`` — masks tokens and secrets in log records: the SDKs'
  loggers (request URLs carry the Telegram token, wechaty prints the puppet token) and every other.
* ``KeyedLocks`` — one lock per key (a chat), so that the parts of one message, or the messages of one
  chat, go out one after another while other chats go on in parallel.
* ``Turns`` — a chat's flood-limit slot taken ahead of its send (``Sender.turn``), so the outbox
  claims a send only once it can go out.

This module imports only the standard library, so any adapter may use it whatever its SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

# --------------------------------------------------------------------------- per-key serialisation


class KeyedLocks:
    """One ``asyncio.Lock`` per key, made on first use and forgotten when nobody holds or awaits it.

    ``asyncio.Lock`` wakes its waiters first come, first served, so holders of one key run in the
    order they asked; different keys never wait for each other.
    """

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        """Keys currently held or awaited."""
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """``async with locks.hold(key):`` runs the block alone among the holders of ``key``."""
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


FRESH_TURN = 0.01
"""Seconds a turn's slot stays good for its send. A limiter counts a slot when it grants it; a send
made later (its claim waited for the database writer, an aside for the round's replies) gives the
slot back and takes one of its own, counted when it really goes out."""

Taken = list[tuple["RateLimiter", str, float]]
"""The slots an acquisition counted: (limiter, key, when)."""


class Turns:
    """Flood-limit slots taken ahead of a send, one chat at a time (``Sender.turn``).

    The outbox waits for a chat's turn before it claims the send (``sending``), then sends: a send
    queued behind the limits stays ``pending`` meanwhile, and a crash while it waits leaves it to
    be sent after the restart rather than taken for one that may have arrived. The send made inside
    the turn finds its slot taken (``take``) and does not wait again, unless the slot is no longer
    fresh (``FRESH_TURN``); a turn left unused is dropped.

    ``lanes``: how many turns may be held at once — the sends the adapter can have on the wire side
    by side (Telegram: python-telegram-bot's connection pool). A turn waits for a lane after its
    slot, so every send the outbox has claimed is really under way: beyond the pool, a claimed send
    would wait for a connection, and a crash then would leave it ``uncertain`` though it never went
    out. ``None``: no bound.
    """

    def __init__(self, lanes: int | None = None) -> None:
        self._held: dict[str, tuple[object, Taken]] = {}
        self._lanes = asyncio.Semaphore(lanes) if lanes is not None else None

    @contextlib.asynccontextmanager
    async def hold(
        self, key: str, acquire: Callable[[Taken], Awaitable[object]]
    ) -> AsyncIterator[None]:
        """``async with turns.hold(chat, acquire):`` — ``acquire(taken)`` (the limiter's wait, which
        counts the slot and notes it in ``taken``), then a free lane, then the block; the slot is
        ``key``'s until a send takes it or the block ends, the lane until the block ends."""
        taken: Taken = []
        await acquire(taken)
        # The lane after the slot: a turn waiting for the flood limits holds no lane from the other
        # chats. A slot gone stale meanwhile is given back by ``take`` (the send takes its own).
        async with self._lanes or contextlib.nullcontext():
            token = object()
            self._held[key] = (token, taken)
            try:
                yield
            finally:
                held = self._held.get(key)
                if held is not None and held[0] is token:
                    del self._held[key]

    def take(self, key: str) -> bool:
        """Whether a fresh turn of ``key`` was held (and is now used): the send need not wait for a
        slot. A stale one is given back: the send takes a slot of its own."""
        held = self._held.pop(key, None)
        if held is None:
            return False
        _, taken = held
        if all(limiter.now() - at <= FRESH_TURN for limiter, _, at in taken):
            return True
        for limiter, name, at in taken:
            limiter.give_back(name, at)
        return False


# --------------------------------------------------------------------------- flood control


class RateLimiter:
    """At most ``limit`` acquisitions per ``window`` seconds for each key; callers wait, never fail.

    Waiters of one key are served in the order they came. ``acquire(key, along=…)`` takes a slot in
    other limiters at the same moment (Telegram: a group's minute and the bot's second), so that a
    message counts in every window at the time it really goes out. ``clock`` and ``sleep`` are
    injectable so tests run without waiting.
    """

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._stamps: dict[str, deque[float]] = {}
        self._locks = KeyedLocks()

    def _recent(self, key: str) -> deque[float]:
        """The times of ``key``'s acquisitions still inside the window."""
        stamps = self._stamps.setdefault(key, deque())
        now = self._clock()
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        return stamps

    def now(self) -> float:
        """This limiter's clock."""
        return self._clock()

    def give_back(self, key: str, at: float) -> None:
        """Uncount the act counted for ``key`` at ``at`` (a slot taken ahead that went unused then)."""
        stamps = self._stamps.get(key)
        if stamps is not None:
            with contextlib.suppress(ValueError):
                stamps.remove(at)

    def delay(self, key: str = "") -> float:
        """Seconds the next acquisition for ``key`` would wait now (0 when it may go at once)."""
        stamps = self._recent(key)
        if len(stamps) < self.limit:
            return 0.0
        return max(0.0, stamps[0] + self.window - self._clock())

    async def _wait_slot(self, key: str) -> float:
        """Sleep until ``key`` has room in its window (the caller holds ``key``'s lock)."""
        waited = 0.0
        while (delay := self.delay(key)) > 0:
            waited += delay
            await self._sleep(delay)
        return waited

    async def acquire(
        self,
        key: str = "",
        *,
        along: Sequence[tuple[RateLimiter, str]] = (),
        taken: Taken | None = None,
    ) -> float:
        """Wait until ``key`` (and each ``(limiter, key)`` of ``along``) may act, count one act in
        each (noted in ``taken``, when given); returns the seconds waited.

        The keys' locks are taken in the order given (callers must keep one order, e.g. group before
        overall) and held until every window has room: while a key's lock is held nobody else adds to
        its window, so a slot found free stays free while the next window is awaited.
        """
        claims = [(self, key), *along]
        async with contextlib.AsyncExitStack() as held:
            waited = 0.0
            for limiter, name in claims:
                await held.enter_async_context(limiter._locks.hold(name))
                waited += await limiter._wait_slot(name)
            for limiter, name in claims:
                at = limiter._clock()
                limiter._recent(name).append(at)
                if taken is not None:
                    taken.append((limiter, name, at))
        return waited


# --------------------------------------------------------------------------- secrets in logs


class SecretRedactor(logging.Filter):
    """Replaces known secrets in log records with ``[REDACTED]``; never drops a record.

    The record's message, its arguments and any formatted traceback are rewritten before a handler
    sees them. ``add`` registers a secret (strings shorter than ``MIN_LENGTH`` are ignored: masking
    them would mangle ordinary words and protect little); ``add_pattern`` a regular expression for
    secrets printed in a known shape whatever their length (wechaty's ``token<…>``).
    """

    MASK = "[REDACTED]"
    MIN_LENGTH = 6

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._patterns: dict[str, tuple[re.Pattern[str], str]] = {}
        self._factory_installed = False

    def add(self, secret: str) -> None:
        """Start hiding ``secret``."""
        if secret and len(secret) >= self.MIN_LENGTH:
            self._secrets.add(secret)

    def add_pattern(self, pattern: re.Pattern[str], replacement: str) -> None:
        """Also replace every match of ``pattern`` by ``replacement`` (``re.sub`` syntax)."""
        self._patterns[pattern.pattern] = (pattern, replacement)

    def redact(self, text: str) -> str:
        """``text`` with every known secret masked."""
        for pattern, replacement in self._patterns.values():
            text = pattern.sub(replacement, text)
        # Longest first: a secret that contains another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, self.MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place."""
        if not self._secrets and not self._patterns:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        redacted = self.redact(message)
        if redacted != message or record.args:
            # The arguments may hold the secret (a URL, a bot's repr): keep only the formatted text.
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def install(self, logger_names: Iterable[str]) -> None:
        """Filter the records of the named loggers and of all their children, and of every other
        logger, present and future.

        A logger's filter sees only the records made by that very logger, so the filter goes on each
        existing child of the named loggers (SDKs make theirs at import time, before this runs), and a
        wrapping log-record factory rewrites every record any logger makes from now on (tornado's,
        made when a webhook server starts; asyncio's; the bot's own).
        """
        prefixes = tuple(logger_names)
        if not self._factory_installed:
            logging.setLogRecordFactory(self._factory(logging.getLogRecordFactory()))
            self._factory_installed = True
        names = set(prefixes)
        names.update(
            name
            for name in list(logging.Logger.manager.loggerDict)
            if name.startswith(tuple(p + "." for p in prefixes))
        )
        for name in names:
            logger = logging.getLogger(name)
            if self not in logger.filters:
                logger.addFilter(self)

    def _factory(
        self, previous: Callable[..., logging.LogRecord]
    ) -> Callable[..., logging.LogRecord]:
        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            # Every logger's records, not only the named ones: a secret can reach any logger (an
            # exception's text logged by asyncio or the dispatcher, a library added later).
            self.filter(record)
            return record

        return factory


REDACTOR = SecretRedactor()
"""The one redactor of the process: every adapter adds its secrets to it."""


def install_redaction(
    secrets: Iterable[str],
    logger_names: Iterable[str],
    patterns: Iterable[tuple[re.Pattern[str], str]] = (),
) -> SecretRedactor:
    """Hide ``secrets`` (and matches of ``patterns``) from the named loggers and their children."""
    for secret in secrets:
        REDACTOR.add(secret)
    for pattern, replacement in patterns:
        REDACTOR.add_pattern(pattern, replacement)
    REDACTOR.install(logger_names)
    return REDACTOR
