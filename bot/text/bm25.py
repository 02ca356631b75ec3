"""Okapi BM25 over a sparse term–document matrix (CSR by term, as plain numpy arrays), built once and
queried in microseconds.

Per-term BM25 weights are precomputed for every (term, document) pair, so scoring a query is just adding
the columns of its terms — the same scores as ``rank_bm25.BM25Okapi`` (with its IDF floor), far faster.
The matrix is built with numpy alone: scipy.sparse, imported for it, was a large part of ``minyi run``'s
resident memory (``benchmarks/startup.py`` prints it), and nothing else of scipy is needed once the
models are trained.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Sequence

import numpy as np


class BM25Index:
    """A BM25 index over pre-tokenised documents.

    ``k1`` and ``b`` are the usual BM25 parameters. With ``idf="okapi"`` negative IDFs are floored at
    ``epsilon * mean(idf)`` exactly as ``rank_bm25.BM25Okapi`` does; the default ``idf="lucene"`` uses
    ``log(1 + (N - df + 0.5) / (df + 0.5))``, which stays positive in tiny collections (a handful of
    templates) where the Okapi IDF of a word found in half the documents is zero.
    """

    def __init__(
        self,
        docs: Sequence[Sequence[Hashable]],
        *,
        k1: float = 1.5,
        b: float = 0.75,
        epsilon: float = 0.25,
        idf: str = "lucene",
    ) -> None:
        if idf not in ("lucene", "okapi"):
            raise ValueError(f"unknown idf variant {idf!r} (lucene or okapi)")
        self.k1 = k1
        self.b = b
        self.vocab: dict[Hashable, int] = {}
        # One posting per distinct (term, document), documents in order: a stable sort by term then
        # keeps each term's documents ascending, the canonical CSR layout.
        terms: list[int] = []
        doc_of_posting: list[int] = []
        counts: list[int] = []
        for d, doc in enumerate(docs):
            for term, n in Counter(doc).items():
                terms.append(self.vocab.setdefault(term, len(self.vocab)))
                doc_of_posting.append(d)
                counts.append(n)
        self.n_docs = len(docs)
        n_terms = len(self.vocab)
        term_array = np.asarray(terms, dtype=np.int64)
        order = np.argsort(term_array, kind="stable")
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_array, minlength=n_terms), out=indptr[1:])
        doc_of = np.asarray(doc_of_posting, dtype=np.int64)[order]
        data = np.asarray(counts, dtype=np.float64)[order]
        doc_len = np.asarray([len(doc) for doc in docs], dtype=np.float64)
        avgdl = float(doc_len.mean()) if self.n_docs and doc_len.sum() else 1.0
        df = np.diff(indptr).astype(np.float64)
        ratio = (self.n_docs - df + 0.5) / (df + 0.5)
        if idf == "lucene":
            idf_values = np.log1p(ratio)
        else:
            idf_values = np.log(ratio)
            if n_terms:
                floor = epsilon * float(idf_values.mean())
                idf_values = np.where(idf_values < 0, floor, idf_values)
        self.idf = idf_values
        norm = k1 * (1.0 - b + b * doc_len / avgdl)
        term_of = np.repeat(np.arange(n_terms), np.diff(indptr))
        weights = idf_values[term_of] * data * (k1 + 1.0) / (data + norm[doc_of])
        self._indptr = indptr
        self._indices = doc_of
        self._weights = weights
        self._codes: np.ndarray | None = None
        """The vocabulary's terms sorted, when they are numbers (``_lookup_codes``, on first use)."""
        self._code_terms = _NO_DOCS

    def scores(self, query: Iterable[Hashable]) -> np.ndarray:
        """BM25 score of every document for ``query`` (repeated query terms count repeatedly)."""
        return self.add_scores(np.zeros(self.n_docs, dtype=np.float64), query, 1.0)

    def add_scores(
        self, out: np.ndarray, query: Iterable[Hashable], weight: float, max_terms: int = 0
    ) -> np.ndarray:
        """Add ``weight`` × the BM25 scores of ``query`` to ``out`` (in place) and return ``out``.

        With ``max_terms`` > 0 only that many distinct terms with the highest IDF are scored (long
        queries: the commonest terms add little but have the longest postings).
        """
        docs, weights = self.postings(query, weight, max_terms)
        if len(docs):
            out += np.bincount(docs, weights=weights, minlength=self.n_docs)
        return out

    def postings(
        self, query: Iterable[Hashable], weight: float, max_terms: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """What ``add_scores`` adds, before it is summed per document: the document of every
        posting of the query's terms, and ``weight`` × its BM25 weight × how often the query holds
        the term. A ranker sums several indexes' postings in one ``np.bincount``.

        The postings of the distinct query terms are gathered at once, so the work is proportional
        to the postings read, not to the number of terms.
        """
        terms, counts = self.selected(query, max_terms)
        if not len(terms):
            return _NO_DOCS, _NO_WEIGHTS
        return gather(self._indptr, self._indices, self._weights, terms, counts * weight)

    def select(self, query: Iterable[Hashable], max_terms: int = 0) -> list[tuple[int, int]]:
        """The terms of ``query`` found in the index, as (term number, how often the query holds
        it), in the query's order; with ``max_terms`` > 0 only that many with the highest IDF."""
        terms, counts = self.selected(query, max_terms)
        return list(zip(terms.tolist(), counts.tolist(), strict=True))

    def selected(
        self, query: Iterable[Hashable] | np.ndarray, max_terms: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """``select`` as two arrays: the term numbers and how often the query holds each.

        A long query of numbers (``np.ndarray``: n-gram codes, an index built from numbers) is
        counted and looked up by numpy, where a Counter and a look-up per term cost a long
        message's ranking most of its time; other queries term by term."""
        if isinstance(query, np.ndarray) and len(query) > LONG_QUERY:
            terms, counts = self._lookup_codes(query)
        else:
            vocab = self.vocab
            # Counted first (in C), looked up once per distinct term; a Counter keeps the query's
            # order (first occurrences), for ties below.
            if isinstance(query, np.ndarray):
                query = query.tolist()
            found = [
                (t, n) for term, n in Counter(query).items() if (t := vocab.get(term)) is not None
            ]
            terms = np.fromiter((t for t, _ in found), dtype=np.int64, count=len(found))
            counts = np.fromiter((n for _, n in found), dtype=np.int64, count=len(found))
        if 0 < max_terms < len(terms):
            # the rarest terms; a stable sort keeps the query's order among equal IDFs
            keep = np.argsort(-self.idf[terms], kind="stable")[:max_terms]
            terms, counts = terms[keep], counts[keep]
        return terms, counts

    def _lookup_codes(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct ``codes`` in the index, in the order they first occur, as term numbers, and
        how often each occurs: what ``selected`` finds with a Counter, by numpy."""
        if self._codes is None:
            keys = np.fromiter(self.vocab.keys(), dtype=np.int64, count=len(self.vocab))
            order = np.argsort(keys)
            self._codes, self._code_terms = keys[order], order  # vocab numbers terms in order
        if not len(self._codes):
            return _NO_DOCS, _NO_DOCS
        distinct, first, counts = np.unique(codes, return_index=True, return_counts=True)
        by_first = np.argsort(first)  # the query's order; no two codes start at one place
        distinct, counts = distinct[by_first], counts[by_first]
        at = np.minimum(np.searchsorted(self._codes, distinct), len(self._codes) - 1)
        found = self._codes[at] == distinct
        return self._code_terms[at[found]], counts[found]


def gather(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    terms: np.ndarray,
    factor: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The postings of ``terms`` in a term–document matrix (CSR by term: ``indptr``, ``indices``,
    ``weights``): each posting's document and weight × its term's ``factor``.

    Array arithmetic instead of one slice per term: a long message has about a hundred terms per
    field, and Python-level slicing dominated."""
    starts = indptr[terms]
    lengths = indptr[terms + 1] - starts
    before = np.cumsum(lengths) - lengths
    positions = np.arange(int(lengths.sum())) + np.repeat(starts - before, lengths)
    return indices[positions], weights[positions] * np.repeat(factor, lengths)


class FusedIndex:
    """BM25 indexes of several fields of the same documents, scored together: the postings of a
    query's terms in every field gathered at once and summed in one ``np.bincount`` (numpy's cost
    per call, not the postings, is most of the time of a short query)."""

    def __init__(self, fields: Sequence[BM25Index]) -> None:
        self.n_docs = fields[0].n_docs
        term_counts = [len(f._indptr) - 1 for f in fields]
        self._term_offsets = np.cumsum([0, *term_counts[:-1]]).tolist()
        posting_offsets = np.cumsum([0, *(len(f._indices) for f in fields)])
        self._indptr = np.concatenate(
            [f._indptr[:-1] + at for f, at in zip(fields, posting_offsets, strict=False)]
            + [posting_offsets[-1:]]
        )
        self._indices = np.concatenate([f._indices for f in fields])
        self._weights = np.concatenate([f._weights for f in fields])

    def scores(self, selected: Sequence[tuple[np.ndarray, np.ndarray, float]]) -> np.ndarray:
        """The sum over fields of weight × BM25 scores: ``selected`` holds, for each field in order,
        its ``BM25Index.selected`` of the query (terms, counts) and the field's weight."""
        terms = np.concatenate(
            [
                found + offset
                for (found, _, _), offset in zip(selected, self._term_offsets, strict=True)
            ]
        )
        if not len(terms):
            return np.zeros(self.n_docs)
        factor = np.concatenate([counts * weight for _, counts, weight in selected])
        docs, weights = gather(self._indptr, self._indices, self._weights, terms, factor)
        return np.bincount(docs, weights=weights, minlength=self.n_docs)


LONG_QUERY = 64
"""From this many terms on, a query of numbers is counted by numpy (``BM25Index.selected``); below,
numpy's cost per call is more than a Counter's."""
_NO_DOCS = np.zeros(0, dtype=np.int64)
_NO_WEIGHTS = np.zeros(0, dtype=np.float64)
