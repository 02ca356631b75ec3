"""``DeferredRanker``: a template ranker built on first use, so start-up does not wait for indexing.

Indexing the reply templates segments every one of them, which first loads jieba's dictionary (about a
second). ``minyi run`` says it is ready before that and builds the ranker in the background
(``build``); a question that arrives sooner waits for the one build, never starts a second.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from bot.text.ranking import TemplateRanker
from bot.text.results import Ranked


class DeferredRanker:
    """Ranks like the ``TemplateRanker`` that ``factory`` makes, made once, when first needed."""

    def __init__(self, factory: Callable[[], TemplateRanker], kind: str = "bm25") -> None:
        self.kind = kind
        """The ranker's name in bot.toml (``bm25`` or ``semantic``), for the ready line."""
        self._factory = factory
        self._lock = threading.Lock()
        self._ranker: TemplateRanker | None = None

    @property
    def built(self) -> bool:
        """True once the templates are indexed."""
        return self._ranker is not None

    def build(self) -> TemplateRanker:
        """The ranker, indexing the templates now if nobody has yet (thread-safe)."""
        ranker = self._ranker
        if ranker is None:
            with self._lock:
                if self._ranker is None:
                    self._ranker = self._factory()
                ranker = self._ranker
        return ranker

    def rank(
        self,
        query: str,
        k: int = 3,
        *,
        intent: str | None = None,
        department: str | None = None,
    ) -> list[Ranked]:
        """``TemplateRanker.rank`` of the built ranker."""
        return self.build().rank(query, k, intent=intent, department=department)
