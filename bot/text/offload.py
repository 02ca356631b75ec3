"""``AnalysisProcess``: text analysis in a process of its own, on a second core beside the store.

jieba and the classifiers are pure Python and hold the GIL, so a thread cannot analyse one part of a
backlog while the database thread stores another; a process can. The process is started on first
need (a backlog), builds its own ``TextAnalyzer`` from the spec of the bot's, and is only used once
it is ready: until then, and for good should it die, the texts are analysed where they are.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import suppress

from bot.text.analyzer import AnalyzerSpec, TextAnalyzer, TextFacts

log = logging.getLogger(__name__)

RESTART_AFTER = 60.0
"""Seconds after a failure (the process died, or did not answer in time) before a new process is
started: an analyzer that cannot start is not started again at every batch."""

_analyzer: TextAnalyzer | None = None
"""The process's own analyzer (in the analysis process only)."""


def _start(spec: AnalyzerSpec) -> None:
    global _analyzer
    parent = multiprocessing.parent_process()
    if parent is not None:
        # A bot killed outright (SIGKILL, OOM) cannot stop its pool, and the pool's queue keeps the
        # process waiting for work: it goes when the bot does, not as an orphan holding its memory.
        threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    _analyzer = spec.build()
    _analyzer.warm_up()


def _exit_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()
    os._exit(0)


def _ready() -> bool:
    return _analyzer is not None


def _facts(texts: list[str]) -> list[TextFacts]:
    assert _analyzer is not None, "the analysis process was not started"
    return _analyzer.facts(texts)


class AnalysisProcess:
    """One analysis process for a ``TextAnalyzer``'s spec: ``submit`` texts, collect their facts
    with ``collect``. Every failure is answered with ``None`` (and logged once): the caller
    analyses the texts itself, nothing is lost."""

    def __init__(self, spec: AnalyzerSpec) -> None:
        self._spec = spec
        self._pool: ProcessPoolExecutor | None = None
        self._started: Future[bool] | None = None
        self._retry_at = 0.0
        self._closed = False
        self._lock = threading.RLock()  # warm-up's thread and the database thread both start it
        self.analysed = 0
        """Texts the process has analysed and handed back."""

    @property
    def ready(self) -> bool:
        """True once the process has built and warmed its analyzer (and has not failed since)."""
        started = self._started
        if started is None or not started.done():
            return False
        if started.exception() is not None:
            self._fail(f"could not start: {started.exception()!r}")
            return False
        return True

    def start(self) -> None:
        """Start the process (in the background; ``ready`` says when it is) unless it runs, was
        closed, or failed less than ``RESTART_AFTER`` seconds ago. A process that cannot be
        started (no process left to the user, no memory) is a failure like any other: logged,
        tried again after ``RESTART_AFTER``, the texts analysed here meanwhile."""
        with self._lock:
            if self._closed or self._pool is not None or time.monotonic() < self._retry_at:
                return
            pool = None
            try:
                # spawn, not fork: the bot's threads (database, event loop) must not be copied
                # mid-work. The process itself is started by the first submit.
                pool = ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start,
                    initargs=(self._spec,),
                )
                self._started = pool.submit(_ready)
            except Exception as exc:
                log.warning(
                    "text analysis process: could not start: %r; analysing in this process", exc
                )
                self._started = None
                self._retry_at = time.monotonic() + RESTART_AFTER
                if pool is not None:
                    with suppress(Exception):  # half made: whatever is left of it goes
                        _stop(pool)
                return
            self._pool = pool

    def wait_ready(self, timeout: float) -> bool:
        """Start the process and wait at most ``timeout`` seconds for it to be ready."""
        self.start()
        started = self._started
        if started is not None:
            with suppress(Exception):
                started.result(timeout)
        return self.ready

    def submit(self, texts: Sequence[str]) -> Future[list[TextFacts]] | None:
        """Have the process analyse ``texts``; None when it is not ready (it is started then)."""
        if not self.ready:
            self.start()
            return None
        assert self._pool is not None
        try:
            return self._pool.submit(_facts, list(texts))
        except RuntimeError as exc:  # BrokenProcessPool, or shut down
            self._fail(repr(exc))
            return None

    def collect(self, future: Future[list[TextFacts]], timeout: float) -> list[TextFacts] | None:
        """The facts ``future`` brings, waiting at most ``timeout`` seconds; None on any failure."""
        try:
            facts = future.result(timeout)
        except FutureTimeout:
            self._fail(f"no answer in {timeout:g} s")
        except Exception as exc:  # the process died (BrokenProcessPool), or analysis failed
            self._fail(repr(exc))
        else:
            self.analysed += len(facts)
            return facts
        return None

    @property
    def pid(self) -> int | None:
        """The process's id while it runs (None before it is started and after it failed)."""
        return next(iter(_processes(self._pool)), None)

    def _fail(self, why: str) -> None:
        with self._lock:
            if self._pool is None:
                return
            log.warning("text analysis process: %s; analysing in this process meanwhile", why)
            pool, self._pool, self._started = self._pool, None, None
            self._retry_at = time.monotonic() + RESTART_AFTER
        _stop(pool)

    def close(self) -> None:
        """Stop the process (what it was asked and not done is dropped) for good: a batch still
        finishing, or the warm-up's thread, does not start another."""
        with self._lock:
            self._closed = True
            pool, self._pool, self._started = self._pool, None, None
        if pool is not None:
            _stop(pool)


def _processes(pool: ProcessPoolExecutor | None) -> dict[int, multiprocessing.Process]:
    """The pool's processes by id: the executor keeps them to itself (Python 3.14 adds
    ``terminate_workers`` for what ``_stop`` needs them for)."""
    return getattr(pool, "_processes", None) or {}


def _stop(pool: ProcessPoolExecutor) -> None:
    # A process that does not answer is not waited for: it is killed (it holds nothing to save; a
    # SIGTERM would wait, pending, on a process that is stopped).
    processes = list(_processes(pool).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.kill()
        process.join(5)
