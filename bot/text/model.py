"""Trained text classifiers: TF-IDF features + a linear classifier, saved as a plain ``.npz`` file.

A model file holds arrays only (vocabulary, IDF, weights, labels and a JSON header) and is read with
``allow_pickle=False``, so loading a file never runs code. A file that is not a minyi model raises
``ValueError`` naming the file.

Format 2 names its classifier in the header (``svm``: one-vs-rest linear SVM, what ``train`` fits
since format 2; ``logistic``: softmax regression). Format 1 files, written before, are all logistic and
still load.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.text.chatter import chatter_score
from bot.text.features import Vectorizer
from bot.text.linear import LinearSVM, LogisticRegression
from bot.text.results import Prediction

if TYPE_CHECKING:
    import scipy.sparse as sp

FORMAT = "minyi-text-model/2"
OLD_FORMATS = ("minyi-text-model/1",)
"""Formats that still load (format 1: logistic regression, no ``classifier`` in the header)."""
KINDS = ("intent", "department")
CLASSIFIER_TYPES: dict[str, type[LinearSVM] | type[LogisticRegression]] = {
    cls.name: cls for cls in (LinearSVM, LogisticRegression)
}
"""Classifiers by the name model files give them (``svm`` is what ``train`` fits by default)."""
DEFAULT_C: dict[str, float] = {"intent": 0.1, "department": 1.0}
"""SVM regularisation per kind, picked once from a small grid (0.1, 0.3, 1) — see docs/ACCURACY.md.

Intent is told apart by many weak cues, so it wants a smoother model; departments by a few strong
topic words, so a looser fit routes better.
"""
Classifier = LinearSVM | LogisticRegression
CHATTER_CUTOFF = 0.75
"""An intent model that never saw chatter still labels text this chatty as chatter."""


class TextModel:
    """A trained classifier for one ``kind`` (``intent`` or ``department``)."""

    def __init__(
        self,
        kind: str,
        vectorizer: Vectorizer,
        classifier: Classifier,
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
        proba = self.classifier.predict_proba(self.vectorizer.rows(normalised))
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
        """Write the model to exactly ``path`` (an ``.npz`` archive whatever the name says: an
        administrator who asked for ``models/intent`` finds ``models/intent``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        vec = self.vectorizer
        clf = self.classifier
        header = {
            "format": FORMAT,
            "kind": self.kind,
            "classifier": clf.name,
            "threshold": self.threshold,
            "char_max": vec.char_max,
            "words": vec.words,
            "min_df": vec.min_df,
            "labels": self.labels,
        }
        if isinstance(clf, LinearSVM):
            header["proba_scale"] = clf.proba_scale
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
        if not isinstance(header, dict) or header.get("format") not in (FORMAT, *OLD_FORMATS):
            raise ValueError(f"{path}: not a minyi text model (format {header!r:.60})")
        kind_of_clf = header.get("classifier", "logistic")
        if kind_of_clf not in CLASSIFIER_TYPES:
            raise ValueError(
                f"{path}: unknown classifier {kind_of_clf!r} (a newer minyi wrote it?)"
            )
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
        clf: Classifier = CLASSIFIER_TYPES[kind_of_clf]()
        if isinstance(clf, LinearSVM):
            clf.proba_scale = float(header.get("proba_scale", clf.proba_scale))
        clf.labels = [str(label) for label in labels]
        clf.coef = coef
        clf.intercept = intercept
        kind = str(header.get("kind"))
        if kind not in KINDS:
            raise ValueError(f"{path}: unknown model kind {kind!r}")
        return cls(kind, vec, clf, float(header.get("threshold", 0.5)))


def fit_classifier(
    kind: str,
    x: sp.csr_matrix,
    labels: Sequence[str],
    *,
    classifier: str = "svm",
    c: float | None = None,
    max_iter: int | None = None,
) -> Classifier:
    """Fit the classifier ``train`` uses on TF-IDF rows ``x`` (shared with cross-validation)."""
    cls = CLASSIFIER_TYPES.get(classifier)
    if cls is None:
        raise ValueError(f"unknown classifier {classifier!r} ({' or '.join(CLASSIFIER_TYPES)})")
    if c is None:
        c = DEFAULT_C[kind] if cls is LinearSVM else 3.0
    return cls(c=c, max_iter=max_iter or 60).fit(x, labels)


def train(
    kind: str,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    c: float | None = None,
    max_iter: int | None = None,
    min_df: int = 2,
    threshold: float | None = None,
    classifier: str = "svm",
) -> TextModel:
    """Train a ``kind`` model from already-normalised ``texts`` and their ``labels``.

    ``c`` defaults to ``DEFAULT_C[kind]`` for the SVM and 3.0 for ``classifier="logistic"``.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r} (intent or department)")
    if len(texts) != len(labels):
        raise ValueError("texts and labels differ in length")
    if len(set(labels)) < 2:
        raise ValueError("training needs at least two different labels")
    vec = Vectorizer(min_df=min_df if len(texts) >= 50 else 1)
    x = vec.fit_transform(texts)
    clf = fit_classifier(kind, x, labels, classifier=classifier, c=c, max_iter=max_iter)
    if threshold is None:
        threshold = 0.5 if kind == "intent" else 0.4
    return TextModel(kind, vec, clf, threshold)
