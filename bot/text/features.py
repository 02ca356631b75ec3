"""Turn normalised texts into sparse TF-IDF vectors of character n-grams and jieba words.

The vocabulary and IDF weights are learnt by ``fit`` and stored with a trained model, so the same text
always maps to the same vector. Only the standard library, numpy and scipy are used.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from bot.text.segment import tokens

_RUN = re.compile(r"[0-9a-z\u3400-\u9fff]+|[?!]")


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
        feats.extend("w:" + t for t in tokens(normalised))
    return feats


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

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """``fit`` then ``transform`` the same normalised texts (features computed once)."""
        feats = self.features(texts)
        return self.fit_features(feats).transform_features(feats)
