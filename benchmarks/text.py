"""Benchmark bot.text: messages/s for normalise + segment + classify, ranking latency, training time.

The dispatcher's analysis of group messages (``bot.work.analyse_texts``: intent, department and topic,
50 at a time, bot.toml's departments) is timed beside them. Training (``minyi train``: normalise,
features, classifier) is timed on 10,000 labelled messages for the
intent and department models, beside the softmax regression that model format 1 trained, in the same run
(msgabench/intent.csv only; skipped without the data). Classification is shown beside jieba's
segmentation alone on as many messages, in the same run. Ranking is timed at 100, 1,000 and 10,000
templates with our sparse BM25 ranker and, on the same corpus in the same run, with
``rank_bm25.BM25Okapi`` (install the ``test`` extra); every query is new to the process (a unique number
appended), so no cache answers it. As in the bot, the query is classified first (untimed) and the ranker
reuses the words classification segmented; the time with the query's segmentation is printed beside. Templates and messages come from
../shared/data (msgabench answers and messages) when present, else from synthetic text.

With ``--semantic`` (needs the ``semantic`` extra) it also times the semantic ranker's start-up on 200
templates with an empty embedding cache and from a full one, in the same run.

    .venv/bin/python benchmarks/text.py [--json] [--semantic]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import logging
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.config import load_settings
from bot.text import RankDoc, TemplateRanker, TextAnalyzer
from bot.text.evaluation import map_intent_labels
from bot.text.model import train
from bot.text.normalise import normalise
from bot.text.segment import tokens
from bot.work import analyse_texts

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "msgabench"
TRAIN_ROWS = 10_000


def _corpus() -> tuple[list[str], list[str]]:
    """(template texts, query/message texts): public data when present, synthetic otherwise."""
    rng = random.Random(0)
    if (DATA / "faq_answers.csv").is_file() and (DATA / "intent.csv").is_file():
        with (DATA / "faq_answers.csv").open(encoding="utf-8") as fh:
            answers = [r["answer"] for r in csv.DictReader(fh)]
        with (DATA / "intent.csv").open(encoding="utf-8") as fh:
            messages = [r["text"] for r in csv.DictReader(fh)]
        docs = answers + messages
    else:
        words = [
            "小区",
            "停水",
            "停电",
            "物业",
            "公交",
            "地铁",
            "学校",
            "医保",
            "社保",
            "噪音",
            "垃圾",
            "停车",
            "道路",
            "补贴",
            "办理",
            "申请",
        ]
        docs = ["".join(rng.choices(words, k=rng.randint(5, 40))) for _ in range(12_000)]
        messages = docs[:2000]
    rng.shuffle(docs)
    return docs, messages


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def python_jieba() -> Any:
    """Python jieba's tokenizer, dictionary loaded (the floor; minyi segments with jieba-rs)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def configured_analyzer() -> TextAnalyzer:
    """The analyzer ``minyi run`` builds from the repository's bot.toml (its departments' keywords)."""
    settings = load_settings(ROOT / "bot.toml")
    return TextAnalyzer(departments={d.name: d.keywords for d in settings.departments})


def bench_classify(messages: list[str], n: int = 2000) -> dict[str, float]:
    """Messages per second through normalise + tokens + intent (caches defeated by unique text), beside
    the floor measured on the same texts in the same run: jieba's segmentation alone.

    Also the dispatcher's whole analysis of group messages (``bot.work.analyse_texts``: intent,
    department and topic, 50 at a time) with the departments of bot.toml."""
    analyzer = configured_analyzer()
    sample = [f"{m}{i}" for i, m in enumerate(messages[:n])]
    # Load what loads on first use (jieba's dictionary and part-of-speech data, the chatter gate,
    # the seed model), as ``MinyiApp.warm_up`` does before the bot reads: the floor below starts warm
    # too.
    analyzer.warm_up()
    t0 = time.perf_counter()
    for text in sample:
        analyzer.normalise(text)
        analyzer.tokens(text)
        analyzer.intent(text)
    seconds = time.perf_counter() - t0
    jieba = python_jieba()
    floor_sample = [f"{m}{i}" for i, m in enumerate(messages[:n], start=n)]
    t0 = time.perf_counter()
    for text in floor_sample:
        jieba.lcut(text, HMM=True)
    floor_seconds = time.perf_counter() - t0
    # Intents classified 50 at a time, as the dispatcher does for a batch of group messages.
    batch_sample = [f"{m}{i}" for i, m in enumerate(messages[:n], start=2 * n)]
    t0 = time.perf_counter()
    for start in range(0, len(batch_sample), 50):
        analyzer.intents(batch_sample[start : start + 50])
    batch_seconds = time.perf_counter() - t0
    analysed = [f"{m}{i}" for i, m in enumerate(messages[:n], start=3 * n)]
    t0 = time.perf_counter()
    for start in range(0, len(analysed), 50):
        analyse_texts(analyzer, analysed[start : start + 50])
    analyse_seconds = time.perf_counter() - t0
    return {
        "messages": len(sample),
        "messages_per_s": round(len(sample) / seconds, 1),
        "batched_intents_per_s": round(len(batch_sample) / batch_seconds, 1),
        "analyse_texts_per_s": round(len(analysed) / analyse_seconds, 1),
        "jieba_alone_per_s": round(len(floor_sample) / floor_seconds, 1),
    }


def unseen_queries(queries: list[str], count: int, run: str) -> list[str]:
    """``count`` queries no cache has seen: each made new by a number unique to this run and size."""
    return [f"{q}{run}{i}" for i, q in zip(range(count), itertools.cycle(queries), strict=False)]


def bench_rank(docs: list[str], queries: list[str], size: int) -> dict[str, float]:
    """Per-query latency of our ranker and of rank_bm25 over the same ``size`` templates, for queries
    the ranker has never seen (each made new, so no cache of an earlier query answers it).

    As in the bot, a question is classified before its templates are ranked (untimed here), and the
    ranker reuses the words classification segmented; ``whole`` is the time for a query nobody
    segmented before (ranking pays for its segmentation). rank_bm25 gets its query's words ready
    made too (segmented untimed)."""
    analyzer = TextAnalyzer()
    analyzer.warm_up()
    corpus = docs[:size]
    ranker = TemplateRanker(analyzer, [RankDoc(str(i), t) for i, t in enumerate(corpus)])
    ranker.rank("热身", 3)
    ours = []
    for q in unseen_queries(queries, 300, f"r{size}q"):
        analyzer.intent(q)  # what the handler has done before it ranks
        t0 = time.perf_counter()
        ranker.rank(q, 3)
        ours.append((time.perf_counter() - t0) * 1000)
    whole = []
    for q in unseen_queries(queries, 300, f"r{size}w"):
        t0 = time.perf_counter()
        ranker.rank(q, 3)
        whole.append((time.perf_counter() - t0) * 1000)
    out = {
        "templates": size,
        "ours_p50_ms": round(statistics.median(ours), 4),
        "ours_p99_ms": round(percentile(ours, 99), 4),
        "whole_p50_ms": round(statistics.median(whole), 4),
        "whole_p99_ms": round(percentile(whole, 99), 4),
    }
    try:
        from rank_bm25 import BM25Okapi
    except ImportError:
        return out
    ref = BM25Okapi([tokens(t) for t in corpus])
    theirs = []
    for q in unseen_queries(queries, 100, f"b{size}q"):
        words = tokens(q)
        t0 = time.perf_counter()
        scores = ref.get_scores(words)
        sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:3]
        theirs.append((time.perf_counter() - t0) * 1000)
    out["rank_bm25_p50_ms"] = round(statistics.median(theirs), 4)
    out["rank_bm25_p99_ms"] = round(percentile(theirs, 99), 4)
    return out


def _labelled(column: str) -> tuple[list[str], list[str]]:
    """``TRAIN_ROWS`` (text, label) pairs of msgabench/intent.csv for ``column`` (intent or domain).

    The file has fewer labelled rows than that; the first rows are repeated with a number appended, so
    the repeats are new texts to the vectorizer, as a longer history would be.
    """
    with (DATA / "intent.csv").open(encoding="utf-8") as fh:
        rows = [(r["text"], r[column].strip()) for r in csv.DictReader(fh)]
    rows = [(t, label) for t, label in rows if t.strip() and label]
    history = list(itertools.islice(itertools.cycle(rows), TRAIN_ROWS))
    texts = [t if i < len(rows) else f"{t} {i}" for i, (t, _) in enumerate(history)]
    labels = [label for _, label in history]
    return texts, map_intent_labels(labels) if column == "intent" else labels


def bench_train() -> list[dict[str, object]]:
    """Seconds to train each model kind as ``minyi train`` does, and with format 1's classifier."""
    if not (DATA / "intent.csv").is_file():
        return []
    out: list[dict[str, object]] = []
    for kind, column in (("intent", "intent"), ("department", "domain")):
        texts, labels = _labelled(column)
        row: dict[str, object] = {"kind": kind, "rows": len(texts)}
        for classifier in ("svm", "logistic"):
            t0 = time.perf_counter()
            train(kind, [normalise(t) for t in texts], labels, classifier=classifier)
            row[f"{classifier}_s"] = round(time.perf_counter() - t0, 2)
        out.append(row)
    return out


def bench_semantic_startup(docs: list[str], size: int = 200) -> dict[str, object]:
    """Seconds for the semantic ranker to index ``size`` templates: with an empty embedding cache, from
    a full one, and from a full one after 10 templates were edited (needs the ``semantic`` extra)."""
    from bot.text.semantic import SemanticRanker

    analyzer = TextAnalyzer()
    templates = [RankDoc(f"t{i}", text) for i, text in enumerate(docs[:size])]
    edited = [RankDoc(d.id, "修订：" + d.text) if i < 10 else d for i, d in enumerate(templates)]
    row: dict[str, object] = {"templates": len(templates)}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "embeddings.npz"
        for name, batch in (("cold", templates), ("warm", templates), ("ten_edited", edited)):
            t0 = time.perf_counter()
            ranker = SemanticRanker(analyzer, batch, cache_path=cache)
            row[f"{name}_s"] = round(time.perf_counter() - t0, 2)
            row[f"{name}_embedded"] = ranker.embedded
    return row


def main() -> int:
    """Run the benchmark and print a table (and JSON with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="last line: the figures as JSON")
    parser.add_argument(
        "--semantic",
        action="store_true",
        help="also time the semantic ranker's start-up with and without its embedding cache",
    )
    args = parser.parse_args()
    docs, messages = _corpus()
    classify = bench_classify(messages)
    results: dict[str, object] = {"classify": classify}
    print(
        f"normalise + segment + classify: {classify['messages_per_s']} messages/s   "
        f"intents 50 at a time: {classify['batched_intents_per_s']} messages/s   "
        f"analyse_texts (intent + department + topic) 50 at a time: "
        f"{classify['analyse_texts_per_s']} messages/s   "
        f"floor, jieba segmentation alone: {classify['jieba_alone_per_s']} messages/s"
    )
    rank_rows = []
    for size in (100, 1_000, 10_000):
        row = bench_rank(docs, messages[::7], size)
        rank_rows.append(row)
        ref = (
            f"   rank_bm25 p50 {row['rank_bm25_p50_ms']:.3f} ms p99 {row['rank_bm25_p99_ms']:.3f} ms"
            if "rank_bm25_p50_ms" in row
            else "   (rank_bm25 not installed)"
        )
        print(
            f"ranking {size:>6} templates: ours p50 {row['ours_p50_ms']:.3f} ms "
            f"p99 {row['ours_p99_ms']:.3f} ms (words from classification; segmenting the query "
            f"too: p50 {row['whole_p50_ms']:.3f} ms p99 {row['whole_p99_ms']:.3f} ms){ref}"
        )
    results["ranking"] = rank_rows
    training = bench_train()
    results["training"] = training
    for fit in training:
        print(
            f"training {fit['kind']:<10} on {fit['rows']} messages: "
            f"{fit['svm_s']:.1f} s (minyi train, linear SVM)   "
            f"{fit['logistic_s']:.1f} s (format 1, softmax regression)"
        )
    if not training:
        print("training: skipped (../shared/data/msgabench/intent.csv not found)")
    if args.semantic:
        start = bench_semantic_startup(docs)
        results["semantic_startup"] = start
        print(
            f"semantic ranker start-up, {start['templates']} templates: "
            f"{start['cold_s']:.2f} s with an empty cache ({start['cold_embedded']} embedded), "
            f"{start['warm_s']:.2f} s from the cache ({start['warm_embedded']} embedded), "
            f"{start['ten_edited_s']:.2f} s after editing 10 ({start['ten_edited_embedded']} embedded)"
        )
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
