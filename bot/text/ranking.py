"""``TemplateRanker``: rank reply templates (or FAQ answers) for a resident's question with sparse BM25.

Each document is indexed three times — as jieba words, as character bigrams and as single characters of the
normalised text — and the three BM25 scores are summed with fixed weights. Question words (什么时候, 怎么办 …)
are masked on both sides: they tell how a resident asks, not what about. Intent and department hints boost
matching documents but never exclude any. ``bot.text.semantic`` adds an optional dense re-ranker on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from bot.text.bm25 import BM25Index
from bot.text.normalise import analysed_part, normalise
from bot.text.results import RankDoc, Ranked
from bot.text.segment import char_ngrams, mask_question_words, tokens

if TYPE_CHECKING:
    from bot.text.analyzer import TextAnalyzer

WORD_WEIGHT = 1.0
BIGRAM_WEIGHT = 0.5
UNIGRAM_WEIGHT = 0.3
"""Single characters catch words that jieba cuts differently in question and answer (补办/办理补卡).

Chosen without the evaluation questions: on pseudo-queries cut out of the answers themselves (a sentence
removed from its answer, which must then be found again) 0.3 beat 0 and 0.1; higher weights were not tried.
"""
MAX_QUERY_CHARS = 8
"""Distinct characters scored in the single-character field (the rarest): common characters have the
longest postings and add next to nothing, and scoring them doubled the ranking time at 10,000 templates.
On the same pseudo-queries 8 ranked as well as 48."""
MAX_QUERY_TERMS = 48
"""Distinct terms per field scored for a query (the rarest); longer messages keep their rarest terms."""
HINT_BOOST = 0.15
"""Relative score boost for a document whose intent/department matches the hint."""


class TemplateRanker:
    """Rank a fixed set of documents against free-text queries, best first."""

    def __init__(self, analyzer: TextAnalyzer, docs: Sequence[RankDoc]) -> None:
        self.analyzer = analyzer
        self.docs = list(docs)
        self._ids = [d.id for d in self.docs]
        self._intents = np.asarray([d.intent for d in self.docs], dtype=object)
        self._departments = np.asarray([d.department for d in self.docs], dtype=object)
        norm = [mask_question_words(normalise(d.text)) for d in self.docs]
        self._words = BM25Index([tokens(t) for t in norm])
        self._bigrams = BM25Index([char_ngrams(t, 2) for t in norm])
        self._chars = BM25Index([char_ngrams(t, 1) for t in norm])

    def scores(self, query: str) -> np.ndarray:
        """Fused relevance score of every document for ``query`` (its first ``MAX_ANALYSED_CHARS``; no
        hints applied)."""
        norm = mask_question_words(normalise(analysed_part(query)))
        out = self._words.add_scores(
            np.zeros(len(self.docs)), tokens(norm), WORD_WEIGHT, MAX_QUERY_TERMS
        )
        out = self._bigrams.add_scores(out, char_ngrams(norm, 2), BIGRAM_WEIGHT, MAX_QUERY_TERMS)
        if not out.any():
            # Single characters alone (x, 7, 好) are no evidence of a topic: a message that shares no
            # word and no bigram with any template gets no suggestion at all.
            return out
        return self._chars.add_scores(out, char_ngrams(norm, 1), UNIGRAM_WEIGHT, MAX_QUERY_CHARS)

    def rank(
        self,
        query: str,
        k: int = 3,
        *,
        intent: str | None = None,
        department: str | None = None,
    ) -> list[Ranked]:
        """The ``k`` best documents for ``query``; ``intent``/``department`` boost matching documents."""
        if not query or not query.strip() or not self.docs or k <= 0:
            return []
        scores = self.scores(query)
        if not np.any(scores > 0):
            return []
        if intent or department:
            boost = np.ones_like(scores)
            if intent:
                boost += HINT_BOOST * (self._intents == intent)
            if department:
                boost += HINT_BOOST * (self._departments == department)
            scores = scores * boost
        k = min(k, len(self.docs))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [Ranked(self._ids[i], float(scores[i])) for i in top if scores[i] > 0]
