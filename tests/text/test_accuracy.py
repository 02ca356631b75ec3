"""Accuracy on the public data in ../shared/data (skipped when it is absent).

The floors below are what the current models reach (see docs/ACCURACY.md for the commands and figures);
a change that makes the bot understand residents worse fails here.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import opencc
import pytest

from bot.text import RankDoc, TemplateRanker, TextAnalyzer
from bot.text.cli import cv_predict
from bot.text.evaluation import classification_report, map_intent_labels, ranking_report
from bot.text.normalise import normalise

pytestmark = pytest.mark.data

ACTIONABLE = ["question", "suggestion", "complaint"]
DataFile = Callable[[str], Path]
FLOOR_DEFAULT_F1, FLOOR_DEFAULT_ACCURACY = 0.7511, 0.7507
"""msgabench intent, default model: macro-F1 0.75118 / accuracy 0.75078 before the chatter gate (issue
17) and with it (the same confusion matrix); the gate must not cost the public figures anything."""
FLOOR_TAIDI = 0.80
"""taidi2020 (subject + details), 7 classes, 5-fold, one-vs-rest SVM: accuracy 0.8061 measured."""
FLOOR_TRAINED_INTENT = 0.815
"""msgabench intent, 5-fold, one-vs-rest SVM: macro-F1 0.8162 measured; issue 5 asks 0.88 (not reached)."""
FLOOR_DOMAIN = 0.735
"""msgabench domain, 5-fold, one-vs-rest SVM: accuracy 0.7398 measured; issue 5 asks 0.80 (not reached).
0.7432 before the trainer's sparse products changed summation order (same model, 24% faster): the
optimiser stops at 60 iterations, so rounding alone moves this figure by a few thousandths."""
FLOOR_FAQ_TOP1, FLOOR_FAQ_TOP3 = 0.60, 0.76
"""faq_answers <- faq, BM25: 0.6052 / 0.7676 measured (0.6040 / 0.7664 before question words were masked);
issue 5 asks 0.65 / 0.85 (not reached by BM25)."""
FLOOR_KB_TOP1, FLOOR_KB_TOP3 = 0.55, 0.79
"""kb <- kb, BM25: 0.5525 / 0.7956 measured (long questions; the query-term cap matters here)."""


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def intent_rows(data_file: DataFile) -> tuple[list[str], list[str]]:
    rows = read(data_file("msgabench/intent.csv"))
    return [r["text"] for r in rows], map_intent_labels([r["intent"] for r in rows])


def test_default_intent_macro_f1(intent_rows: tuple[list[str], list[str]]) -> None:
    texts, gold = intent_rows
    analyzer = TextAnalyzer()
    predicted = [analyzer.intent(t).label for t in texts]
    report = classification_report(gold, predicted, ACTIONABLE)
    assert report.macro_f1 >= FLOOR_DEFAULT_F1, report.as_dict()
    assert report.accuracy >= FLOOR_DEFAULT_ACCURACY, report.as_dict()
    assert predicted.count("chatter") < len(texts) * 0.01


def test_traditional_scores_like_simplified(intent_rows: tuple[list[str], list[str]]) -> None:
    texts, gold = intent_rows
    texts, gold = texts[::5], gold[::5]
    s2t = opencc.OpenCC("s2t")
    analyzer = TextAnalyzer()
    simplified = classification_report(gold, [analyzer.intent(t).label for t in texts], ACTIONABLE)
    traditional = classification_report(
        gold, [analyzer.intent(s2t.convert(t)).label for t in texts], ACTIONABLE
    )
    assert abs(simplified.macro_f1 - traditional.macro_f1) <= 0.02


def test_trained_intent_cross_validation(intent_rows: tuple[list[str], list[str]]) -> None:
    texts, gold = intent_rows
    predicted = cv_predict("intent", [normalise(t) for t in texts], gold, folds=5)
    report = classification_report(gold, predicted, ACTIONABLE)
    assert report.macro_f1 >= FLOOR_TRAINED_INTENT, report.as_dict()


def test_department_taidi_cross_validation(data_file: DataFile) -> None:
    rows = read(data_file("taidi2020/messages_labelled.csv"))
    texts = [normalise(r["留言主题"] + " " + r["留言详情"]) for r in rows]
    gold = [r["一级分类"] for r in rows]
    predicted = cv_predict("department", texts, gold, folds=5)
    report = classification_report(gold, predicted)
    assert report.accuracy >= FLOOR_TAIDI, report.as_dict()


def test_department_msgabench_cross_validation(data_file: DataFile) -> None:
    rows = [r for r in read(data_file("msgabench/intent.csv")) if r["domain"].strip()]
    texts = [normalise(r["text"]) for r in rows]
    gold = [r["domain"].strip() for r in rows]
    predicted = cv_predict("department", texts, gold, folds=5)
    report = classification_report(gold, predicted)
    assert report.accuracy >= FLOOR_DOMAIN, report.as_dict()


@pytest.fixture(scope="module")
def faq(data_file: DataFile) -> tuple[TemplateRanker, list[str], list[set[str]]]:
    answers = read(data_file("msgabench/faq_answers.csv"))
    queries = read(data_file("msgabench/faq.csv"))
    ids: dict[str, str] = {}
    for row in answers:
        ids.setdefault(row["answer"].strip(), f"a{len(ids)}")
    ranker = TemplateRanker(TextAnalyzer(), [RankDoc(i, t) for t, i in ids.items()])
    gold = [{ids[q["answer"].strip()]} for q in queries]
    return ranker, [q["question"] for q in queries], gold


def test_faq_ranking(faq: tuple[TemplateRanker, list[str], list[set[str]]]) -> None:
    ranker, queries, gold = faq
    report = ranking_report(queries, gold, lambda q: [r.id for r in ranker.rank(q, 10)])
    assert report.top3 >= FLOOR_FAQ_TOP3 and report.top1 >= FLOOR_FAQ_TOP1, report.as_dict()


def test_kb_ranking(data_file: DataFile) -> None:
    rows = read(data_file("msgabench/kb.csv"))
    ids: dict[str, str] = {}
    for row in rows:
        ids.setdefault(row["answer"].strip(), f"a{len(ids)}")
    ranker = TemplateRanker(TextAnalyzer(), [RankDoc(i, t) for t, i in ids.items()])
    queries = [r["question"] for r in rows if r["question"].strip()]
    gold = [{ids[r["answer"].strip()]} for r in rows if r["question"].strip()]
    report = ranking_report(queries, gold, lambda q: [r.id for r in ranker.rank(q, 10)])
    assert report.top3 >= FLOOR_KB_TOP3 and report.top1 >= FLOOR_KB_TOP1, report.as_dict()


def test_faq_ranking_traditional(faq: tuple[TemplateRanker, list[str], list[set[str]]]) -> None:
    ranker, queries, gold = faq
    s2t = opencc.OpenCC("s2t")
    rank: Callable[[str], list[str]] = lambda q: [r.id for r in ranker.rank(q, 10)]  # noqa: E731
    plain = ranking_report(queries, gold, rank)
    trad = ranking_report([s2t.convert(q) for q in queries], gold, rank)
    assert abs(plain.top3 - trad.top3) <= 0.02 and abs(plain.top1 - trad.top1) <= 0.02
