"""Turn normalised texts into sparse TF-IDF vectors of character n-grams and jieba words.

The vocabulary and IDF weights are learnt by ``fit`` and stored with a trained model, so the same text
always maps to the same vector. Only the standard library, numpy and scipy are used (scipy only by
``transform``, for training: classifying does not import it).

Training builds feature strings (``analyse``); classifying does not: ``Vectorizer.rows`` turns a batch of
texts into code points with one numpy call, numbers every character n-gram (three 21-bit code points in
one 64-bit integer), finds them in the vocabulary (``VocabularyIndex``: a hash table, built once per
model) and returns the TF-IDF rows as plain arrays (``Rows``), which a linear model multiplies without a
scipy matrix: the same vectors as ``transform``, about ten times faster on one message.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bot.text.code_table import CodeTable
from bot.text.segment import normalised_tokens

if TYPE_CHECKING:
    import scipy.sparse as sp

_RUN = re.compile(r"[0-9a-z\u3400-\u9fff]+|[?!]")
_BITS = 21
"""Every code point fits in 21 bits, so an n-gram of up to three characters is one uint64."""
_IN_RUN = np.zeros(0x110000, dtype=bool)
_IN_RUN[[*range(ord("0"), ord("9") + 1), *range(ord("a"), ord("z") + 1)]] = True
_IN_RUN[0x3400:0xA000] = True
"""The characters of ``_RUN``'s runs, by code point."""
_ALONE = np.zeros(0x110000, dtype=bool)
_ALONE[[ord("?"), ord("!")]] = True
"""Characters that are features of their own (``_RUN``'s second branch) but join no n-gram."""


def analyse(normalised: str, char_max: int = 3, words: bool = True) -> list[str]:
    """The features of one normalised text: character 1..``char_max``-grams (``c:``) and words (``w:``).

    Character n-grams are taken inside runs of letters, digits and CJK characters; ``?`` and ``!`` are kept
    as features of their own because they carry intent.
    """
    feats: list[str] = []
    for run in _RUN.findall(normalised):
        n_chars = len(run)
        for n in range(1, char_max + 1):
            feats.extend("c:" + run[i : i + n] for i in range(n_chars - n + 1))
    if words:
        feats.extend("w:" + t for t in normalised_tokens(normalised))
    return feats


def _code(gram: str) -> int:
    """The number ``char_codes`` gives a character n-gram."""
    code = 0
    for ch in gram:
        code = (code << _BITS) | ord(ch)
    return code


def _code_points(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The code points of ``texts`` joined by a NUL (which is in no run, so no n-gram spans two
    texts), and each text's length with its NUL."""
    lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
    points = np.frombuffer("\0".join(texts).encode("utf-32-le"), dtype="<u4").astype(np.int64)
    return points, lengths


def char_codes(texts: Sequence[str], char_max: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The character 1..``char_max``-grams of ``analyse`` for each of ``texts``, as numbers
    (``_code``), and the index of the text each comes from. One pass of numpy over the whole batch."""
    points, lengths = _code_points(texts)
    row = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)[: len(points)]
    inside = _IN_RUN[points]
    keep = inside | _ALONE[points]
    codes, rows = [points[keep]], [row[keep]]
    gram, valid = points, inside
    for n in range(2, char_max + 1):
        # n-grams starting at each position: shift the (n-1)-grams left and add the next character
        gram = (gram[:-1] << _BITS) | points[n - 1 :]
        valid = valid[:-1] & inside[n - 1 :]
        codes.append(gram[valid])
        rows.append(row[: len(valid)][valid])
    return np.concatenate(codes), np.concatenate(rows)


def run_codes(texts: Sequence[str], n: int) -> list[np.ndarray]:
    """``segment.char_ngrams(text, n)`` of each of ``texts`` (``n`` is 1 or 2), numbered as
    ``char_codes`` numbers n-grams, in the text's order: one numpy pass over the batch."""
    if n not in (1, 2):
        raise ValueError("run_codes numbers single characters and bigrams only")
    points, lengths = _code_points(texts)
    inside = np.append(_IN_RUN[points], False)  # a NUL after the last text ends its run
    points = np.append(points, 0)
    if n == 1:
        codes, keep = points, inside
    else:
        pair = inside[:-1] & inside[1:]
        # a run of one character is a "bigram" of its own (char_ngrams keeps short runs whole)
        alone = inside[:-1] & ~inside[1:] & ~np.concatenate([[False], inside[:-2]])
        codes = np.append(np.where(pair, (points[:-1] << _BITS) | points[1:], points[:-1]), 0)
        keep = np.append(pair | alone, False)  # nothing starts at the closing NUL
    if not len(texts):
        return []
    counts = np.add.reduceat(keep.astype(np.int64), np.cumsum(lengths) - lengths)
    return np.split(codes[keep], np.cumsum(counts)[:-1])


def _longer(grams: list[int], points: list[int], n: int) -> list[int]:
    """The n-grams of ``points`` from their (n-1)-grams ``grams``, numbered as ``_code`` numbers
    them (iterated in C)."""
    return list(map(operator.or_, map(operator.lshift, grams, _SHIFTS), points[n - 1 :]))


def text_run_codes(text: str) -> tuple[list[int], list[int]]:
    """``run_codes([text], 1)`` and ``run_codes([text], 2)`` of one text, as lists, in plain Python:
    for a single short text (a query) numpy's cost per call is more than the work."""
    chars: list[int] = []
    bigrams: list[int] = []
    for run in _LETTER_RUN.findall(text):
        codes = list(map(ord, run))
        chars.extend(codes)
        if len(codes) == 1:
            bigrams.append(codes[0])  # a run of one character is a "bigram" of its own
        else:
            bigrams.extend(_longer(codes, codes, 2))
    return chars, bigrams


_SHIFTS = itertools.repeat(_BITS)


_LETTER_RUN = re.compile(r"[0-9a-z\u3400-\u9fff]+")
"""A run of the characters of ``_IN_RUN``."""


@dataclass(frozen=True)
class Rows:
    """TF-IDF rows as arrays: row ``i`` holds ``values[indptr[i]:indptr[i+1]]`` at ``columns[…]``."""

    indptr: np.ndarray
    columns: np.ndarray
    values: np.ndarray
    width: int

    def dot(self, weights: np.ndarray) -> np.ndarray:
        """The rows times ``weights`` (width × k): an n × k array."""
        n = len(self.indptr) - 1
        out = np.zeros((n, weights.shape[1]))
        filled = np.flatnonzero(self.indptr[1:] > self.indptr[:-1])
        if len(filled):
            terms = self.values[:, None] * weights[self.columns]
            out[filled] = np.add.reduceat(terms, self.indptr[filled], axis=0)
        return out

    def tocsr(self) -> sp.csr_matrix:
        """The same rows as a scipy matrix."""
        import scipy.sparse as sp

        return sp.csr_matrix(
            (self.values, self.columns, self.indptr), shape=(len(self.indptr) - 1, self.width)
        )


class VocabularyIndex:
    """A vocabulary split for fast look-up: character n-grams as numbers, sorted and in a
    ``CodeTable``, words in a dict."""

    def __init__(self, vocab: dict[str, int]) -> None:
        grams = [(f[2:], i) for f, i in vocab.items() if f.startswith("c:")]
        codes = np.asarray([_code(g) for g, _ in grams], dtype=np.int64)
        columns = np.asarray([i for _, i in grams], dtype=np.int64)
        self.table = CodeTable(codes, columns)
        order = np.argsort(codes)
        self.codes = codes[order]
        self.columns = columns[order]
        self.words = {f[2:]: i for f, i in vocab.items() if f.startswith("w:")}

    def lookup(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For n-gram numbers ``codes``: which are in the vocabulary (a mask) and their columns.

        A batch's numbers are looked up in the hash table; one message's few hundred by binary
        search, which takes fewer numpy calls (their fixed cost is then most of the time)."""
        if len(codes) > SMALL_LOOKUP:
            return self.table.get(codes)
        if not len(self.codes):
            return np.zeros(len(codes), dtype=bool), np.zeros(0, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.codes, codes), len(self.codes) - 1)
        found = self.codes[at] == codes
        return found, self.columns[at[found]]


SMALL_LOOKUP = 2000
"""Up to this many n-gram numbers (some five messages), ``VocabularyIndex.lookup`` searches the
sorted vocabulary instead of the hash table."""


class Vectorizer:
    """Sublinear TF-IDF over the features of ``analyse``, each row scaled to unit length."""

    def __init__(
        self,
        char_max: int = 3,
        words: bool = True,
        min_df: int = 2,
        max_features: int = 300_000,
    ) -> None:
        self.char_max = char_max
        self.words = words
        self.min_df = min_df
        self.max_features = max_features
        self.vocab: dict[str, int] = {}
        self.idf = np.zeros(0, dtype=np.float64)
        self._index: VocabularyIndex | None = None
        self._index_of: dict[str, int] | None = None

    def _analyse(self, normalised: str) -> list[str]:
        return analyse(normalised, self.char_max, self.words)

    def features(self, texts: Iterable[str]) -> list[list[str]]:
        """The raw feature lists of normalised texts (compute once, reuse for fit and transform)."""
        return [self._analyse(text) for text in texts]

    def fit(self, texts: Sequence[str]) -> Vectorizer:
        """Learn the vocabulary (features in at least ``min_df`` texts) and IDF from normalised texts."""
        return self.fit_features(self.features(texts))

    def fit_features(self, feature_lists: Sequence[Sequence[str]]) -> Vectorizer:
        """``fit`` from feature lists made by ``features``."""
        df: Counter[str] = Counter()
        for feats in feature_lists:
            df.update(set(feats))
        kept = [(f, c) for f, c in df.items() if c >= self.min_df]
        kept.sort(key=lambda fc: (-fc[1], fc[0]))
        kept = kept[: self.max_features]
        self.vocab = {f: i for i, (f, _) in enumerate(kept)}
        counts = np.asarray([c for _, c in kept], dtype=np.float64)
        n = len(feature_lists)
        self.idf = np.log((1.0 + n) / (1.0 + counts)) + 1.0
        return self

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        """TF-IDF rows for normalised texts (features outside the vocabulary are ignored)."""
        return self.transform_features(self.features(texts))

    def transform_features(self, feature_lists: Iterable[Sequence[str]]) -> sp.csr_matrix:
        """``transform`` from feature lists made by ``features``."""
        import scipy.sparse as sp  # training only: classifying uses ``rows``

        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        vocab = self.vocab
        for feats in feature_lists:
            counts = Counter(j for f in feats if (j := vocab.get(f)) is not None)
            indices.extend(counts.keys())
            data.extend(counts.values())
            indptr.append(len(indices))
        x = sp.csr_matrix(
            (np.asarray(data, dtype=np.float64), np.asarray(indices, dtype=np.int64), indptr),
            shape=(len(indptr) - 1, len(vocab)),
        )
        if x.nnz:
            x.data = (1.0 + np.log(x.data)) * self.idf[x.indices]
            norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            x = sp.csr_matrix(sp.diags(1.0 / norms) @ x)
        return x

    def index(self) -> VocabularyIndex:
        """The look-up form of ``vocab``, made on first use (and again after ``fit`` or a new vocab)."""
        if self._index is None or self._index_of is not self.vocab:
            self._index = VocabularyIndex(self.vocab)
            self._index_of = self.vocab
        return self._index

    def rows(self, texts: Sequence[str], words: Sequence[Sequence[str]] | None = None) -> Rows:
        """The ``transform`` of normalised ``texts`` as ``Rows``, without feature strings or scipy.

        ``words`` are the texts' tokens when the caller already has them (``normalised_tokens``),
        so a text is segmented once for every model that reads it.
        """
        index = self.index()
        codes, row_of = char_codes(texts, self.char_max)
        found, columns = index.lookup(codes)
        row_of = row_of[found]
        if self.words:
            if words is None:
                words = [normalised_tokens(t) for t in texts]
            get = index.words.get
            pairs = [(i, j) for i, ws in enumerate(words) for w in ws if (j := get(w)) is not None]
            if pairs:
                extra = np.asarray(pairs, dtype=np.int64)
                row_of = np.concatenate([row_of, extra[:, 0]])
                columns = np.concatenate([columns, extra[:, 1]])
        width = max(len(self.vocab), 1)
        cells, counts = np.unique(row_of * width + columns, return_counts=True)
        row_of, columns = cells // width, cells % width
        values = (1.0 + np.log(counts)) * self.idf[columns]
        norms = np.sqrt(np.bincount(row_of, weights=values * values, minlength=len(texts)))
        values = values / np.where(norms == 0, 1.0, norms)[row_of]
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_of, minlength=len(texts)), out=indptr[1:])
        return Rows(indptr, columns, values, len(self.vocab))

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """``fit`` then ``transform`` the same normalised texts (features computed once)."""
        feats = self.features(texts)
        return self.fit_features(feats).transform_features(feats)
