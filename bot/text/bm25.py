"""Okapi BM25 over a sparse term–document matrix (scipy CSC), built once and queried in microseconds.

Per-term BM25 weights are precomputed for every (term, document) pair, so scoring a query is just adding
the columns of its terms — the same scores as ``rank_bm25.BM25Okapi`` (with its IDF floor), far faster.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp


class BM25Index:
    """A BM25 index over pre-tokenised documents.

    ``k1`` and ``b`` are the usual BM25 parameters. With ``idf="okapi"`` negative IDFs are floored at
    ``epsilon * mean(idf)`` exactly as ``rank_bm25.BM25Okapi`` does; the default ``idf="lucene"`` uses
    ``log(1 + (N - df + 0.5) / (df + 0.5))``, which stays positive in tiny collections (a handful of
    templates) where the Okapi IDF of a word found in half the documents is zero.
    """

    def __init__(
        self,
        docs: Sequence[Sequence[str]],
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
        self.vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        for d, doc in enumerate(docs):
            for term in doc:
                t = self.vocab.setdefault(term, len(self.vocab))
                rows.append(t)
                cols.append(d)
        self.n_docs = len(docs)
        n_terms = len(self.vocab)
        ones = np.ones(len(rows), dtype=np.float64)
        tf = sp.csc_matrix(
            (ones, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
            shape=(n_terms, self.n_docs),
        )
        tf.sum_duplicates()
        tf = tf.tocsr()  # rows = terms: each term's postings are contiguous
        doc_len = np.asarray([len(doc) for doc in docs], dtype=np.float64)
        avgdl = float(doc_len.mean()) if self.n_docs and doc_len.sum() else 1.0
        df = np.diff(tf.indptr).astype(np.float64)
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
        data = tf.data
        doc_of = tf.indices
        term_of = np.repeat(np.arange(n_terms), np.diff(tf.indptr))
        weights = idf_values[term_of] * data * (k1 + 1.0) / (data + norm[doc_of])
        self._indptr = tf.indptr
        self._indices = doc_of.astype(np.int64)
        self._weights = weights

    def scores(self, query: Iterable[str]) -> np.ndarray:
        """BM25 score of every document for ``query`` (repeated query terms count repeatedly)."""
        return self.add_scores(np.zeros(self.n_docs, dtype=np.float64), query, 1.0)

    def add_scores(
        self, out: np.ndarray, query: Iterable[str], weight: float, max_terms: int = 0
    ) -> np.ndarray:
        """Add ``weight`` × the BM25 scores of ``query`` to ``out`` (in place) and return ``out``.

        The postings of the distinct query terms are gathered once and summed with one
        ``np.bincount``, so the work is proportional to the postings read, not to the number of terms.
        With ``max_terms`` > 0 only that many distinct terms with the highest IDF are scored (long
        queries: the commonest terms add little but have the longest postings).
        """
        counts: dict[int, int] = {}
        vocab = self.vocab
        for term in query:
            t = vocab.get(term)
            if t is not None:
                counts[t] = counts.get(t, 0) + 1
        if not counts:
            return out
        terms = np.fromiter(counts, dtype=np.int64, count=len(counts))
        reps = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if 0 < max_terms < len(terms):
            # the rarest terms; a stable sort keeps the query's order among equal IDFs
            keep = np.argsort(-self.idf[terms], kind="stable")[:max_terms]
            terms, reps = terms[keep], reps[keep]
        # Gather every kept term's postings with array arithmetic instead of one slice per term
        # (a long message has about a hundred terms per field; Python-level slicing dominated).
        starts = self._indptr[terms]
        lengths = self._indptr[terms + 1] - starts
        before = np.cumsum(lengths) - lengths
        positions = np.arange(int(lengths.sum())) + np.repeat(starts - before, lengths)
        idx = self._indices[positions]
        w = self._weights[positions]
        if np.any(reps != 1.0):
            w = w * np.repeat(reps * weight, lengths)
        elif weight != 1.0:
            w = w * weight
        out += np.bincount(idx, weights=w, minlength=self.n_docs)
        return out
