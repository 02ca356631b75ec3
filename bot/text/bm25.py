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

        With ``max_terms`` > 0 only that many distinct terms with the highest IDF are scored (long
        queries: the commonest terms add little but have the longest postings).
        """
        vocab = self.vocab
        ids = [t for term in query if (t := vocab.get(term)) is not None]
        return self.add_term_scores(out, np.asarray(ids, dtype=np.int64), weight, max_terms)

    def add_term_scores(
        self, out: np.ndarray, ids: np.ndarray, weight: float, max_terms: int = 0
    ) -> np.ndarray:
        """``add_scores`` for a query given as term numbers (``vocab`` values, repeats counting again).

        The postings of the distinct query terms are gathered once and summed with one
        ``np.bincount``, so the work is proportional to the postings read, not to the number of terms.
        """
        if not len(ids):
            return out
        terms, first, counts = np.unique(ids, return_index=True, return_counts=True)
        order = np.argsort(first, kind="stable")  # the query's order, for ties below
        terms, reps = terms[order], counts[order].astype(np.float64)
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


class CodeIndex(BM25Index):
    """A BM25 index whose terms are numbers (character n-grams as ``features.run_codes`` numbers them),
    looked up for a whole query at once by binary search instead of one dict look-up per term."""

    def __init__(self, docs: Sequence[Sequence[int]], **kwargs: float | str) -> None:
        super().__init__(docs, **kwargs)  # type: ignore[arg-type]
        keys = np.fromiter(self.vocab, dtype=np.int64, count=len(self.vocab))
        order = np.argsort(keys)
        self._keys = keys[order]
        self._ids = np.fromiter(self.vocab.values(), dtype=np.int64, count=len(self.vocab))[order]

    def add_code_scores(
        self, out: np.ndarray, codes: np.ndarray, weight: float, max_terms: int = 0
    ) -> np.ndarray:
        """``add_scores`` for a query given as n-gram numbers, in the query's order."""
        if not len(self._keys) or not len(codes):
            return out
        at = np.minimum(np.searchsorted(self._keys, codes), len(self._keys) - 1)
        found = self._keys[at] == codes
        return self.add_term_scores(out, self._ids[at[found]], weight, max_terms)
