"""The ``minyi eval`` and ``minyi train`` commands: measure and train the text models from CSV files.

``add_subcommands`` adds both to the bot's argparse parser; every command function takes the parsed
``argparse.Namespace`` and returns an exit code. Bad input (missing file, missing column, unknown label,
bad model file) prints one line on stderr and returns 2. With ``--json`` the last line printed is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.cli_help import examples
from bot.progress import progress
from bot.text.analyzer import TextAnalyzer
from bot.text.chatter import chatter_score
from bot.text.evaluation import (
    INTENT_ALIASES,
    ClassificationReport,
    DataError,
    classification_report,
    cross_validate,
    map_intent_labels,
    ranking_report,
    read_csv,
)
from bot.text.features import Vectorizer
from bot.text.model import CHATTER_CUTOFF, fit_classifier, train
from bot.text.model_cache import read_examples
from bot.text.normalise import normalise
from bot.text.results import ACTIONABLE, RankDoc
from bot.text.semantic import RANKERS, SemanticRanker, SemanticUnavailable, make_ranker

EXIT_BAD_INPUT = 2


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


EVAL_SETS = {"groupchat": Path(__file__).resolve().parents[2] / "tests/text/data/groupchat.tsv"}
"""Labelled sets kept in the repository (``--set NAME``): ``groupchat`` is the held-out colloquial
group-chat lines that measure the chatter gate (never trained on)."""


def _eval_file(args: argparse.Namespace) -> str:
    """The file an ``eval`` command reads: ``FILE`` or the path of ``--set NAME``."""
    if args.set:
        if args.file:
            raise DataError("give a FILE or --set NAME, not both")
        path = EVAL_SETS[args.set]
        if not path.is_file():
            raise DataError(f"--set {args.set}: {path} is missing (it ships in the source tree)")
        return str(path)
    if not args.file:
        raise DataError("give a labelled FILE (CSV, or TSV of label<TAB>text) or --set NAME")
    return str(args.file)


def _load_labelled(
    path: str, text_col: str, label_col: str, kind: str
) -> tuple[list[str], list[str]]:
    """Normalised texts and labels of a CSV, or of a ``.tsv`` of ``label<TAB>text`` lines (``#``
    comments); rows with an empty text or label are skipped."""
    if path.endswith(".tsv"):
        try:
            pairs = [(text, label) for label, text in read_examples(Path(path))]
        except FileNotFoundError:
            raise DataError(f"{path}: file not found") from None
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text") from None
    else:
        rows = read_csv(path, [text_col, label_col])
        pairs = [(r[text_col], r[label_col].strip()) for r in rows]
    pairs = [(t, label) for t, label in pairs if t.strip() and label]
    if not pairs:
        raise DataError(f"{path}: no rows with both {text_col!r} and {label_col!r}")
    texts = [normalise(t) for t, _ in pairs]
    labels = [label for _, label in pairs]
    if kind == "intent":
        labels = map_intent_labels(labels, path)
    return texts, labels


def cv_predict(
    kind: str,
    texts: Sequence[str],
    labels: Sequence[str],
    folds: int,
    c: float | None = None,
    fold_done: Callable[[], object] = lambda: None,
) -> list[str]:
    """Out-of-fold predictions of models trained like ``minyi train`` (features computed once).

    Vocabulary, IDF and weights are fitted on the training folds only; ``c`` defaults as in ``train``.
    ``fold_done`` is called after each fold (the progress bar).
    """
    vec = Vectorizer()
    feats = vec.features(texts)

    def fit_predict(train_idx: list[int], test_idx: list[int]) -> list[str]:
        fold_vec = Vectorizer(min_df=vec.min_df)
        x_train = fold_vec.fit_features([feats[i] for i in train_idx]).transform_features(
            [feats[i] for i in train_idx]
        )
        clf = fit_classifier(kind, x_train, [labels[i] for i in train_idx], c=c)
        x_test = fold_vec.transform_features([feats[i] for i in test_idx])
        proba = clf.predict_proba(x_test)
        out = []
        for i, row in zip(test_idx, proba, strict=True):
            label = clf.labels[int(row.argmax())]
            chatty = kind == "intent" and "chatter" not in clf.labels
            if chatty and chatter_score(texts[i]) >= CHATTER_CUTOFF:
                label = "chatter"
            out.append(label)
        fold_done()
        return out

    return cross_validate(texts, labels, fit_predict, k=folds)


def _print_report(title: str, report: ClassificationReport, extra: dict[str, Any]) -> None:
    print(title)
    for key, value in extra.items():
        print(f"  {key}: {value}")
    print(f"  {'class':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}")
    for c in report.classes:
        print(f"  {c.label:<24}{c.precision:>10.4f}{c.recall:>10.4f}{c.f1:>10.4f}{c.support:>10}")
    print(f"  accuracy {report.accuracy:.4f}   macro-F1 {report.macro_f1:.4f}")
    if len(report.predicted_labels) <= 12:
        print("  confusion (rows gold, columns predicted):")
        print("  " + " " * 24 + "".join(f"{p[:10]:>12}" for p in report.predicted_labels))
        gold_rows = report.labels + [g for g in report.predicted_labels if g not in report.labels]
        for label, row in zip(gold_rows, report.confusion, strict=False):
            print(f"  {label:<24}" + "".join(f"{n:>12}" for n in row))


def _classify(kind: str, args: argparse.Namespace) -> int:
    try:
        path = _eval_file(args)
        texts, labels = _load_labelled(path, args.text_col, args.label_col, kind)
        extra: dict[str, Any] = {"file": path, "rows": len(texts)}
        t0 = time.perf_counter()
        if args.cv:
            if args.model:
                return _fail("--cv trains its own models; leave out --model")
            if args.cv < 2:
                return _fail("--cv needs at least 2 folds")
            with progress(f"{kind}: {args.cv}-fold cross-validation", args.cv) as bar:
                predicted = cv_predict(kind, texts, labels, args.cv, args.c, bar.advance)
            extra["model"] = f"trained, {args.cv}-fold cross-validation"
        else:
            analyzer = TextAnalyzer(
                intent_model=args.model if kind == "intent" else None,
                department_model=args.model if kind == "department" else None,
            )
            if kind == "department" and not args.model:
                return _fail("department evaluation needs --model PATH or --cv K")
            predict = analyzer.intent if kind == "intent" else analyzer.department
            predicted = []
            with progress(f"{kind}: classifying", len(texts)) as bar:
                for text in texts:
                    predicted.append(predict(text).label)
                    bar.advance()
            extra["model"] = args.model or "default (rules + seed examples)"
        extra["seconds"] = round(time.perf_counter() - t0, 2)
    except DataError as exc:
        return _fail(str(exc))
    except ValueError as exc:
        return _fail(str(exc))
    if kind == "intent":
        gold_labels = [label for label in ACTIONABLE if label in set(labels)]
        gold_labels += sorted(set(labels) - set(gold_labels))
    else:
        gold_labels = sorted(set(labels))
    report = classification_report(labels, predicted, gold_labels)
    _print_report(f"{kind} evaluation", report, extra)
    chatter = next((c for c in report.classes if c.label == "chatter"), None)
    if chatter is not None:
        # Small talk told from business is what a group-chat set measures; say it in one line.
        print(f"  chatter precision {chatter.precision:.4f}   recall {chatter.recall:.4f}")
    if args.json:
        print(
            json.dumps({"command": f"eval {kind}", **extra, **report.as_dict()}, ensure_ascii=False)
        )
    return 0


def cmd_eval_intent(args: argparse.Namespace) -> int:
    """``minyi eval intent``: per-class P/R/F1, macro-F1 and confusion matrix."""
    return _classify("intent", args)


def cmd_eval_department(args: argparse.Namespace) -> int:
    """``minyi eval department``: accuracy and macro-F1 (plus per-class figures)."""
    return _classify("department", args)


def cmd_eval_suggest(args: argparse.Namespace) -> int:
    """``minyi eval suggest``: top-1, top-3, MRR and latency of ranking the answers for each query."""
    try:
        answers = read_csv(args.answers, [args.answer_col])
        queries = read_csv(args.queries, [args.question_col, args.answer_col])
    except DataError as exc:
        return _fail(str(exc))
    ids: dict[str, str] = {}
    docs = []
    for row in answers:
        text = row[args.answer_col].strip()
        if text and text not in ids:
            ids[text] = f"a{len(ids)}"
            docs.append(RankDoc(ids[text], text))
    if not docs:
        return _fail(f"{args.answers}: no answers")
    pairs = [
        (q[args.question_col], q[args.answer_col].strip())
        for q in queries
        if q[args.question_col].strip()
    ]
    t0 = time.perf_counter()
    try:
        with progress(f"indexing {len(docs)} answers", len(docs)) as bar:
            ranker = make_ranker(
                args.ranker, TextAnalyzer(), docs, args.embedding_cache, bar.advance
            )
            bar.complete()  # the documents that needed no embedding (BM25, the cache)
    except SemanticUnavailable as exc:
        return _fail(str(exc))
    build = time.perf_counter() - t0
    gold = [{ids[a]} if a in ids else set() for _, a in pairs]
    missing = sum(1 for g in gold if not g)
    ranker.rank(pairs[0][0] if pairs else "热身", k=10)  # warm caches before timing
    with progress(f"ranking {len(pairs)} queries", len(pairs)) as bar:
        report = ranking_report(
            [q for q, _ in pairs], gold, lambda q: [r.id for r in ranker.rank(q, 10)], bar.advance
        )
    print("suggest evaluation")
    print(f"  ranker: {args.ranker}")
    embedded = ranker.embedded if isinstance(ranker, SemanticRanker) else 0
    cached = f", {len(docs) - embedded} vectors from the cache" if args.embedding_cache else ""
    print(f"  answers: {args.answers} ({len(docs)} distinct, index built in {build:.2f} s{cached})")
    print(f"  queries: {args.queries} ({len(pairs)}; {missing} whose answer is not in the pool)")
    print(f"  top-1 {report.top1:.4f}   top-3 {report.top3:.4f}   MRR@10 {report.mrr:.4f}")
    print(f"  latency per query: p50 {report.p50_ms:.3f} ms   p99 {report.p99_ms:.3f} ms")
    if args.json:
        out = {
            "command": "eval suggest",
            "ranker": args.ranker,
            "answers": len(docs),
            "missing_gold": missing,
            "index_seconds": round(build, 3),
            "embedded": embedded,
        }
        print(json.dumps({**out, **report.as_dict()}, ensure_ascii=False))
    return 0


TRAIN_STEPS = 3
"""``minyi train``'s steps on its progress bar: read the file, train, save."""


def cmd_train(args: argparse.Namespace) -> int:
    """``minyi train intent|department``: train a model from a labelled CSV and save it."""
    kind = args.kind
    try:
        with progress(f"{kind}: reading {args.file}", TRAIN_STEPS) as bar:
            texts, labels = _load_labelled(args.file, args.text_col, args.label_col, kind)
            if len(set(labels)) < 2:
                return _fail(f"{args.file}: need at least two different labels to train")
            bar.advance(note=f"{kind}: training on {len(texts)} rows")
            t0 = time.perf_counter()
            model = train(kind, texts, labels, c=args.c)
            seconds = time.perf_counter() - t0
            bar.advance(note=f"{kind}: saving {args.out}")
            path = model.save(args.out)
            bar.advance(note=f"{kind}: saved")
    except DataError as exc:
        return _fail(str(exc))
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    print(f"trained {kind} model on {len(texts)} rows, {len(model.labels)} labels, {seconds:.1f} s")
    print(f"  labels: {', '.join(model.labels)}")
    print(f'  saved to {path}  (bot.toml: [text] {kind}_model = "{path}")')
    if args.json:
        out = {
            "command": f"train {kind}",
            "rows": len(texts),
            "labels": model.labels,
            "features": len(model.vectorizer.vocab),
            "seconds": round(seconds, 2),
            "out": str(path),
        }
        print(json.dumps(out, ensure_ascii=False))
    return 0


LABELLED_FILES = (
    "input: a UTF-8 CSV with a header row (--text-col, --label-col), or a .tsv of label<TAB>text "
    "lines;\nintent labels: " + ", ".join(INTENT_ALIASES)
)
"""How ``eval`` and ``train`` read labelled files, for their help."""

INTENT_EXAMPLES = (
    "minyi eval intent ../shared/data/msgabench/intent.csv",
    "minyi eval intent ../shared/data/msgabench/intent.csv --cv 5 --json",
    "minyi eval intent --set groupchat               # small talk told from business",
    "minyi eval intent history.csv --model models/intent.npz",
)
DEPARTMENT_EXAMPLES = (
    "minyi eval department ../shared/data/msgabench/intent.csv --text-col text "
    "--label-col domain --cv 5",
    "minyi eval department history.csv --text-col 内容 --label-col 部门 "
    "--model models/department.npz",
)
SUGGEST_EXAMPLES = (
    "minyi eval suggest --answers ../shared/data/msgabench/faq_answers.csv "
    "--queries ../shared/data/msgabench/faq.csv",
    "minyi eval suggest --answers kb.csv --queries kb.csv --ranker semantic "
    "--embedding-cache data/kb-vectors.npz",
)


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``eval`` (intent, department, suggest) and ``train`` (intent, department) to ``subparsers``."""
    ev = subparsers.add_parser(
        "eval",
        help="measure the text models on a labelled CSV file",
        **examples(*INTENT_EXAMPLES[:1], *DEPARTMENT_EXAMPLES[:1], *SUGGEST_EXAMPLES[:1]),
    )
    ev_sub = ev.add_subparsers(dest="eval_what", required=True)
    for kind, func, text_default, label_default, shown in (
        ("intent", cmd_eval_intent, "text", "intent", INTENT_EXAMPLES),
        ("department", cmd_eval_department, None, None, DEPARTMENT_EXAMPLES),
    ):
        p = ev_sub.add_parser(
            kind, help=f"{kind} classification figures", **examples(*shown, before=LABELLED_FILES)
        )
        p.add_argument(
            "file",
            nargs="?",
            default=None,
            help="CSV file (UTF-8) with a text and a label column, or a .tsv of label<TAB>text",
        )
        p.add_argument(
            "--set",
            choices=sorted(EVAL_SETS),
            default=None,
            help="a labelled set kept in the repository instead of FILE (groupchat: small talk)",
        )
        p.add_argument("--text-col", default=text_default, required=text_default is None)
        p.add_argument("--label-col", default=label_default, required=label_default is None)
        p.add_argument("--model", default=None, help="a model made by `minyi train`")
        p.add_argument(
            "--cv",
            type=int,
            default=0,
            metavar="K",
            help="K-fold cross-validation of a model trained like `minyi train`",
        )
        p.add_argument("--c", type=float, default=None, help=argparse.SUPPRESS)
        p.add_argument("--json", action="store_true", help="last line: the figures as JSON")
        p.set_defaults(func=func)
    p = ev_sub.add_parser(
        "suggest",
        help="reply ranking figures (top-1, top-3, MRR, latency)",
        **examples(
            *SUGGEST_EXAMPLES,
            before="--answers: a CSV whose --answer-col holds the candidate answers; --queries: a "
            "CSV with --question-col and the gold answer in --answer-col",
        ),
    )
    p.add_argument("--answers", required=True, help="CSV with the candidate answers")
    p.add_argument("--queries", required=True, help="CSV with question and gold answer")
    p.add_argument("--answer-col", default="answer")
    p.add_argument("--question-col", default="question")
    p.add_argument(
        "--ranker",
        choices=RANKERS,
        default="bm25",
        help="bm25 (default) or semantic (needs the 'semantic' extra)",
    )
    p.add_argument(
        "--embedding-cache",
        default="",
        metavar="PATH",
        help="semantic ranker: keep the answers' vectors in PATH so a second run skips embedding them",
    )
    p.add_argument("--json", action="store_true", help="last line: the figures as JSON")
    p.set_defaults(func=cmd_eval_suggest)

    tr = subparsers.add_parser(
        "train",
        help="train a text model from your own labelled history",
        **examples(
            "minyi train intent history.csv --out models/intent.npz",
            "minyi train department history.csv --text-col 留言详情 --label-col 一级分类 "
            "--out models/department.npz",
            before=LABELLED_FILES + "\nthe model is written to exactly --out; point bot.toml's "
            "[text] intent_model / department_model at it",
        ),
    )
    tr.add_argument("kind", choices=("intent", "department"))
    tr.add_argument("file", help="CSV file (UTF-8) with a text and a label column")
    tr.add_argument("--text-col", default="text")
    tr.add_argument("--label-col", default=None, help="default: intent / department")
    tr.add_argument("--out", required=True, help="where to write the model (.npz)")
    tr.add_argument(
        "--c",
        type=float,
        default=None,
        help="inverse regularisation strength (default: 0.1 for intent, 1.0 for department)",
    )
    tr.add_argument("--json", action="store_true", help="last line: a JSON summary")
    tr.set_defaults(func=_train_entry)


def _train_entry(args: argparse.Namespace) -> int:
    if args.label_col is None:
        args.label_col = args.kind
    return cmd_train(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``eval``/``train`` on their own: ``python -m bot.text.cli eval intent FILE.csv``."""
    parser = argparse.ArgumentParser(
        prog="minyi", description="minyi text models", **examples(*INTENT_EXAMPLES[:1])
    )
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
