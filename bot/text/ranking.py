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

from bot.text.bm25 import BM25Index, FusedIndex
from bot.text.features import run_codes, text_run_codes
from bot.text.normalise import analysed_part, normalise
from bot.text.results import RankDoc, Ranked
from bot.text.segment import mask_question_words, normalised_tokens, segment, word_list

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
MAX_ARGMAX_K = 8
"""Up to this many suggestions, ``top_k`` finds each with a pass of ``argmax``."""
HINT_BOOST = 0.15
"""Relative score boost for a document whose intent/department matches the hint."""


def _words(tokens: Sequence[str]) -> list[str]:
    """``tokens`` without question words (``question_words.txt``): they tell how a resident asks,
    not what about."""
    asking = word_list("question_words.txt")
    return [t for t in tokens if t not in asking]


LONG_TEXT = 100
"""From this many characters on, a query's n-grams are numbered by numpy (``run_codes``); below, in
plain Python (``text_run_codes``), where numpy's cost per call is more than the work."""


def _query_codes(masked: str) -> tuple[list[int] | np.ndarray, list[int] | np.ndarray]:
    """The numbered characters and bigrams of a query's ``masked`` text (the same numbers either way)."""
    if len(masked) < LONG_TEXT:
        return text_run_codes(masked)
    return run_codes([masked], 1)[0], run_codes([masked], 2)[0]


class TemplateRanker:
    """Rank a fixed set of documents against free-text queries, best first."""

    def __init__(self, analyzer: TextAnalyzer, docs: Sequence[RankDoc]) -> None:
        self.analyzer = analyzer
        self.docs = list(docs)
        self._ids = [d.id for d in self.docs]
        self._intents = np.asarray([d.intent for d in self.docs], dtype=object)
        self._departments = np.asarray([d.department for d in self.docs], dtype=object)
        norm = [normalise(d.text) for d in self.docs]
        # segment() rather than the remembered normalised_tokens: thousands of templates would push
        # the residents' messages out of that cache.
        self._words = BM25Index([_words(segment(t)) for t in norm])
        masked = [mask_question_words(t) for t in norm]
        self._bigrams = BM25Index([c.tolist() for c in run_codes(masked, 2)])
        self._chars = BM25Index([c.tolist() for c in run_codes(masked, 1)])
        self._fields = FusedIndex([self._words, self._bigrams, self._chars])

    def scores(self, query: str) -> np.ndarray:
        """Fused relevance score of every document for ``query`` (its first ``MAX_ANALYSED_CHARS``; no
        hints applied).

        The query's words are the ones classification segmented (``normalised_tokens`` remembers
        them), not a second segmentation. The three fields are scored together (``FusedIndex``).
        """
        norm = normalise(analysed_part(query))
        chars, bigrams = _query_codes(mask_question_words(norm))
        words, word_counts = self._words.selected(_words(normalised_tokens(norm)), MAX_QUERY_TERMS)
        pairs, pair_counts = self._bigrams.selected(bigrams, MAX_QUERY_TERMS)
        if not len(words) and not len(pairs):
            # Single characters alone (x, 7, 好) are no evidence of a topic: a message that shares no
            # word and no bigram with any template gets no suggestion at all.
            return np.zeros(len(self.docs))
        singles, single_counts = self._chars.selected(chars, MAX_QUERY_CHARS)
        return self._fields.scores(
            [
                (words, word_counts, WORD_WEIGHT),
                (pairs, pair_counts, BIGRAM_WEIGHT),
                (singles, single_counts, UNIGRAM_WEIGHT),
            ]
        )

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
        if intent or department:
            boost = np.ones_like(scores)
            if intent:
                boost += HINT_BOOST * (self._intents == intent)
            if department:
                boost += HINT_BOOST * (self._departments == department)
            scores = scores * boost
        return [Ranked(self._ids[i], score) for i, score in top_k(scores, k)]


def top_k(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` documents with the highest positive ``scores``, best first, as (index, score); of
    equal scores the first document first.

    A few passes of ``argmax`` for the few suggestions a reply shows (numpy's partition of 10,000
    scores cost more than their sum); a stable sort for more."""
    if k > MAX_ARGMAX_K:
        order = np.argsort(-scores, kind="stable")[:k]
        return [
            (i, s) for i, s in zip(order.tolist(), scores[order].tolist(), strict=True) if s > 0
        ]
    out: list[tuple[int, float]] = []
    for _ in range(min(k, len(scores))):
        i = int(scores.argmax())  # the first of equal scores
        best = float(scores[i])
        if best <= 0:
            break
        out.append((i, best))
        scores[i] = -np.inf  # the next pass finds the next best
    for i, best in out:  # the caller's array as it was
        scores[i] = best
    return out
