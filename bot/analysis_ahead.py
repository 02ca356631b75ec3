"""``AnalysisAhead``: a batch's texts analysed ahead in the analysis process (``bot.text.offload``)
while the database thread stores the events before them.

Without the process a batch's texts are analysed on the database thread, a chunk when the batch
reaches it; with it, the first few of a backlog are analysed there at once and the rest are sent
to the process in chunks, so storing and analysing use two cores. The dispatcher asks ``take``
first; whatever it does not bring (the process not ready yet, or gone) is analysed as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, NamedTuple

from bot.work import Analysis, analyses

if TYPE_CHECKING:
    from bot.text.analyzer import TextFacts
    from bot.text.offload import AnalysisProcess

HERE = 10
"""Texts of a backlog analysed on the database thread when its batch first reaches them, while the
process works on the next ones (fewer: the store waits for the process's first answer; more: the
database thread does more of the analysis)."""
CHUNK = 25
"""Texts sent to the process at a time."""
WAIT = 10.0
"""Seconds the database thread waits for a chunk before it lets the process go and analyses the
texts itself (a chunk takes milliseconds)."""


class _Sent(NamedTuple):
    ids: list[int]
    texts: list[str]
    facts: Future[list[TextFacts]]


class AnalysisAhead:
    """The chunks sent to the analysis process and not taken yet, by inbox id (no process: nothing
    is ever sent, every ``take`` is empty)."""

    def __init__(self, process: AnalysisProcess | None) -> None:
        self._process = process
        self._sent: dict[int, _Sent] = {}

    def sent(self, event_id: int) -> bool:
        """True when the event's text is with the process."""
        return event_id in self._sent

    def keep_only(self, pending: set[int]) -> None:
        """Let go of what was sent for events no longer pending (handled by another worker)."""
        self._sent = {i: s for i, s in self._sent.items() if i in pending}

    def send(self, todo: Sequence[tuple[int, str]]) -> Sequence[tuple[int, str]]:
        """Send ``todo`` (inbox id, text) but its first ``HERE`` to the process, when it is a
        backlog and the process is ready (starting it otherwise); returns what is left to analyse
        here."""
        if self._process is None or len(todo) < HERE + CHUNK:
            return todo
        for start in range(HERE, len(todo), CHUNK):
            chunk = todo[start : start + CHUNK]
            texts = [text for _, text in chunk]
            facts = self._process.submit(texts)
            if facts is None:
                return [*todo[:HERE], *todo[start:]] if start > HERE else todo
            sent = _Sent([event_id for event_id, _ in chunk], texts, facts)
            self._sent.update(dict.fromkeys(sent.ids, sent))
        return todo[:HERE]

    def take(self, event_id: int) -> dict[int, Analysis]:
        """The analyses of the chunk the event's text was sent in, by inbox id; {} when it was not
        sent or the process failed (every chunk sent is let go then). Waits for the process: call it
        on the database thread, never on the event loop."""
        sent = self._sent.get(event_id)
        if sent is None or self._process is None:
            return {}
        for i in sent.ids:
            self._sent.pop(i, None)  # ``keep_only`` may have let some go
        facts = self._process.collect(sent.facts, WAIT)
        if facts is None:
            self._sent.clear()
            return {}
        return dict(zip(sent.ids, analyses(facts, sent.texts), strict=True))

    @property
    def process(self) -> AnalysisProcess | None:
        """The analysis process (None: ``[text] analysis_process`` is off)."""
        return self._process

    def start(self, wait: float = 0.0) -> bool:
        """Start the process (when there is one to start) and wait at most ``wait`` seconds for it
        to be ready; whether it is."""
        return self._process is not None and self._process.wait_ready(wait)

    def close(self) -> None:
        """Stop the process."""
        self._sent.clear()
        if self._process is not None:
            self._process.close()
