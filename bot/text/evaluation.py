"""Measure classifiers and the ranker: precision/recall/F1, confusion matrices, cross-validation, top-k.

Pure functions over lists of labels or ranked ids, plus CSV reading that reports bad input as
``DataError`` (one line, naming the file and the problem) instead of a traceback.
"""

from __future__ import annotations

import csv
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

INTENT_ALIASES: dict[str, str] = {
    "question": "question",
    "suggestion": "suggestion",
    "complaint": "complaint",
    "chatter": "chatter",
    "咨询": "question",
    "建言": "suggestion",
    "投诉/求助": "complaint",
    "投诉": "complaint",
    "求助": "complaint",
    "闲聊": "chatter",
}
"""Intent labels understood in CSV files (English and Chinese) and what they mean."""


class DataError(Exception):
    """Bad input data, phrased as one line for people."""


def read_csv(path: str | Path, columns: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a UTF-8 CSV file that must have ``columns``; raise ``DataError`` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in columns if c not in header]
            if missing:
                raise DataError(
                    f"{path}: missing column {missing[0]!r} (columns: {', '.join(header) or 'none'})"
                )
            return [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a CSV file ({exc})") from None


def map_intent_labels(labels: Sequence[str], source: str = "") -> list[str]:
    """Map English/Chinese intent labels to ``question``/``suggestion``/``complaint``/``chatter``."""
    out = []
    for i, raw in enumerate(labels):
        label = INTENT_ALIASES.get(raw.strip().lower()) or INTENT_ALIASES.get(raw.strip())
        if label is None:
            where = f"{source}: " if source else ""
            raise DataError(
                f"{where}unknown intent label {raw!r} in row {i + 2} "
                "(use question/suggestion/complaint/chatter or 咨询/建言/投诉/求助)"
            )
        out.append(label)
    return out


@dataclass
class ClassReport:
    """Precision, recall, F1 and support of one class."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class ClassificationReport:
    """Per-class figures, accuracy, macro-F1 (over ``labels``) and the confusion matrix."""

    labels: list[str]
    classes: list[ClassReport]
    accuracy: float
    macro_f1: float
    confusion: list[list[int]]
    predicted_labels: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of the figures."""
        return {
            "n": sum(c.support for c in self.classes),
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "classes": {
                c.label: {
                    "precision": round(c.precision, 4),
                    "recall": round(c.recall, 4),
                    "f1": round(c.f1, 4),
                    "support": c.support,
                }
                for c in self.classes
            },
            "confusion": {
                "labels": self.labels,
                "predicted_labels": self.predicted_labels,
                "matrix": self.confusion,
            },
        }


def classification_report(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str] | None = None
) -> ClassificationReport:
    """Compare ``predicted`` with ``gold``; macro-F1 averages over ``labels`` (default: gold labels).

    The confusion matrix has one row per gold label and one column per label that was predicted
    or is gold (so predictions outside ``labels``, e.g. ``chatter``, show up as a column).
    """
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    labels = list(labels) if labels else sorted(set(gold))
    cols = labels + sorted(set(predicted) - set(labels))
    rows_all = labels + sorted(set(gold) - set(labels))
    matrix = [[0] * len(cols) for _ in rows_all]
    ri = {label: i for i, label in enumerate(rows_all)}
    ci = {label: i for i, label in enumerate(cols)}
    for g, p in zip(gold, predicted, strict=True):
        matrix[ri[g]][ci[p]] += 1
    classes = []
    for label in labels:
        tp = sum(1 for g, p in zip(gold, predicted, strict=True) if g == label and p == label)
        n_pred = sum(1 for p in predicted if p == label)
        n_gold = sum(1 for g in gold if g == label)
        prec = tp / n_pred if n_pred else 0.0
        rec = tp / n_gold if n_gold else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        classes.append(ClassReport(label, prec, rec, f1, n_gold))
    accuracy = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p) / max(len(gold), 1)
    macro = sum(c.f1 for c in classes) / max(len(classes), 1)
    return ClassificationReport(labels, classes, accuracy, macro, matrix[: len(rows_all)], cols)


def stratified_folds(labels: Sequence[str], k: int = 5, seed: int = 0) -> list[list[int]]:
    """Split row indices into ``k`` folds with each label spread evenly (deterministic for ``seed``)."""
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for label in sorted(by_label):
        idx = by_label[label]
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            folds[(j + offset) % k].append(i)
        offset += len(idx)
    return [sorted(f) for f in folds]


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    fit_predict: Callable[[list[int], list[int]], list[str]],
    k: int = 5,
    seed: int = 0,
) -> list[str]:
    """Out-of-fold predictions: ``fit_predict(train_idx, test_idx)`` returns labels for ``test_idx``."""
    out = [""] * len(texts)
    for fold in stratified_folds(labels, k, seed):
        held = set(fold)
        train_idx = [i for i in range(len(texts)) if i not in held]
        for i, label in zip(fold, fit_predict(train_idx, fold), strict=True):
            out[i] = label
    return out


@dataclass
class RankingReport:
    """Top-1, top-3, MRR (over the first 10) and per-query latency percentiles in milliseconds."""

    n: int
    top1: float
    top3: float
    mrr: float
    p50_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of the figures."""
        return {
            "n": self.n,
            "top1": round(self.top1, 4),
            "top3": round(self.top3, 4),
            "mrr": round(self.mrr, 4),
            "p50_ms": round(self.p50_ms, 4),
            "p99_ms": round(self.p99_ms, 4),
        }


def ranking_report(
    queries: Sequence[str],
    gold: Sequence[set[str]],
    rank: Callable[[str], Sequence[str]],
    query_done: Callable[[], object] = lambda: None,
) -> RankingReport:
    """Run ``rank`` (query → ids best first, at least 10) and compare with the gold id sets;
    ``query_done`` is called after each query, outside the timing (the progress bar)."""
    hits1 = hits3 = 0
    rr = 0.0
    times = []
    for query, ok in zip(queries, gold, strict=True):
        t0 = time.perf_counter()
        ids = list(rank(query))
        times.append((time.perf_counter() - t0) * 1000.0)
        query_done()
        for pos, doc_id in enumerate(ids[:10]):
            if doc_id in ok:
                hits1 += pos == 0
                hits3 += pos < 3
                rr += 1.0 / (pos + 1)
                break
    n = len(queries)
    arr = np.asarray(times) if times else np.zeros(1)
    return RankingReport(
        n,
        hits1 / max(n, 1),
        hits3 / max(n, 1),
        rr / max(n, 1),
        float(np.percentile(arr, 50)),
        float(np.percentile(arr, 99)),
    )
