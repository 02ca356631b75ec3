"""Trained text classifiers: TF-IDF features + logistic regression, saved as a plain ``.npz`` file.

A model file holds arrays only (vocabulary, IDF, weights, labels and a JSON header) and is read with
``allow_pickle=False``, so loading a file never runs code. A file that is not a minyi model raises
``ValueError`` naming the file.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.text.chatter import chatter_score
from bot.text.features import Vectorizer
from bot.text.linear import LogisticRegression
from bot.text.results import Prediction

FORMAT = "minyi-text-model/1"
KINDS = ("intent", "department")
CHATTER_CUTOFF = 0.75
"""An intent model that never saw chatter still labels text this chatty as chatter."""


class TextModel:
    """A trained classifier for one ``kind`` (``intent`` or ``department``)."""

    def __init__(
        self,
        kind: str,
        vectorizer: Vectorizer,
        classifier: LogisticRegression,
        threshold: float = 0.5,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown model kind {kind!r} (intent or department)")
        self.kind = kind
        self.vectorizer = vectorizer
        self.classifier = classifier
        self.threshold = threshold

    @property
    def labels(self) -> list[str]:
        """The labels this model can predict."""
        return list(self.classifier.labels)

    def predict_many(self, normalised: Sequence[str]) -> list[Prediction]:
        """Predictions for already-normalised texts."""
        if not normalised:
            return []
        proba = self.classifier.predict_proba(self.vectorizer.transform(normalised))
        out = []
        for text, row in zip(normalised, proba, strict=True):
            if self.kind == "intent" and "chatter" not in self.labels:
                chat = chatter_score(text)
                if chat >= CHATTER_CUTOFF:
                    out.append(Prediction("chatter", round(chat, 4), True))
                    continue
            i = int(row.argmax())
            conf = float(row[i])
            out.append(Prediction(self.labels[i], round(conf, 4), conf >= self.threshold))
        return out

    def predict(self, normalised: str) -> Prediction:
        """The prediction for one already-normalised text."""
        return self.predict_many([normalised])[0]

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path`` (a ``.npz`` file; the suffix is added when missing)."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        vec = self.vectorizer
        header = {
            "format": FORMAT,
            "kind": self.kind,
            "threshold": self.threshold,
            "char_max": vec.char_max,
            "words": vec.words,
            "min_df": vec.min_df,
            "labels": self.labels,
        }
        vocab = sorted(vec.vocab, key=vec.vocab.__getitem__)
        with path.open("wb") as fh:
            np.savez_compressed(
                fh,
                header=np.asarray(json.dumps(header, ensure_ascii=False)),
                vocab=np.asarray(vocab, dtype=str),
                idf=vec.idf,
                coef=self.classifier.coef.astype(np.float32),
                intercept=self.classifier.intercept,
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> TextModel:
        """Read a model written by ``save``; raise ``ValueError`` naming ``path`` if it is not one."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                vocab = [str(v) for v in data["vocab"]]
                idf = np.asarray(data["idf"], dtype=np.float64)
                coef = np.asarray(data["coef"], dtype=np.float64)
                intercept = np.asarray(data["intercept"], dtype=np.float64)
        except FileNotFoundError:
            raise ValueError(f"{path}: model file not found") from None
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a minyi text model ({exc})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"{path}: not a minyi text model (format {header!r:.60})")
        labels = header.get("labels")
        if (
            not isinstance(labels, list)
            or len(vocab) != len(idf)
            or coef.shape != (len(vocab), len(labels))
            or intercept.shape != (len(labels),)
        ):
            raise ValueError(f"{path}: model file is damaged (array shapes do not match)")
        vec = Vectorizer(
            char_max=int(header.get("char_max", 3)),
            words=bool(header.get("words", True)),
            min_df=int(header.get("min_df", 2)),
        )
        vec.vocab = {f: i for i, f in enumerate(vocab)}
        vec.idf = idf
        clf = LogisticRegression()
        clf.labels = [str(label) for label in labels]
        clf.coef = coef
        clf.intercept = intercept
        kind = str(header.get("kind"))
        if kind not in KINDS:
            raise ValueError(f"{path}: unknown model kind {kind!r}")
        return cls(kind, vec, clf, float(header.get("threshold", 0.5)))


def train(
    kind: str,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    c: float = 3.0,
    max_iter: int = 60,
    min_df: int = 2,
    threshold: float | None = None,
) -> TextModel:
    """Train a ``kind`` model from already-normalised ``texts`` and their ``labels``."""
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    if len(set(labels)) < 2:
        raise ValueError("training needs at least two different labels")
    vec = Vectorizer(min_df=min_df if len(texts) >= 50 else 1)
    x = vec.fit_transform(texts)
    clf = LogisticRegression(c=c, max_iter=max_iter).fit(x, labels)
    if threshold is None:
        threshold = 0.5 if kind == "intent" else 0.4
    return TextModel(kind, vec, clf, threshold)
