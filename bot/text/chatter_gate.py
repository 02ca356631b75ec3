"""The chatter gate: how likely a group-chat line is small talk rather than business for an official.

The stock-phrase rules of ``chatter.py`` catch 收到 / 谢谢 / 哈哈; they cannot tell 今天包了饺子，谁家要尝尝
or 周末有人一起去爬山吗 (neighbours chatting, with question marks and all) from 3号楼电梯又停了 (business).
This module trains a small two-class model (chatter against everything actionable) on example lines
written for this project — ``chatter_examples.txt`` and ``seed_examples.txt`` — and caches it like the seed
model. It never sees the held-out test lines (tests/text/data/groupchat.tsv) nor any public data.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

from bot.text.model import TextModel, train
from bot.text.model_cache import (
    HERE,
    MODEL_SOURCES,
    cache_dir,
    inputs_key,
    load_or_train,
    read_examples,
)
from bot.text.normalise import normalise
from bot.text.segment import normalised_tokens

EXAMPLE_FILES = (HERE / "seed_examples.txt", HERE / "chatter_examples.txt")
"""The lines the gate learns from (labels question / suggestion / complaint count as business)."""
GATE_TRAINING = {"c": 3.0, "min_df": 1, "classifier": "logistic"}
"""Softmax regression at the library's usual C: its probability is what the gate thresholds."""
MAX_GATE_CHARS = 80
"""Longer messages are never called chatter by the gate: small talk in a group is short, while
letters to officials run long and would be judged on a model trained on short lines."""

_COURTESY = re.compile(
    r"(?:非常|十分)?(?:谢谢|感谢|多谢)(?:您|你|大家|领导|啦|了)*|(?:尊敬的)?"
    r"(?:(?:各位)?(?:领导|书记|市长|区长|主任|老师)们?(?:您|你)?|各位|您|你|大家)好[!！,，。:：]?"
)
"""Greetings and thanks framing a message. They say nothing about whether the rest is business —
letters to officials open with 领导您好 and close with 谢谢 as often as chat lines do — so the gate
judges what remains (a message of courtesy alone is the stock-phrase rules' job)."""

_EDGES = " ,，。!！~"
"""What ``without_courtesy`` strips from both ends besides greetings and thanks."""


_lock = threading.Lock()
_gate: TextModel | None = None


def gate_model_key() -> str:
    """A digest of the example files, the training settings and the code behind the gate model."""
    sources = [HERE / name for name in (*MODEL_SOURCES, "chatter_gate.py")]
    return inputs_key([*EXAMPLE_FILES, *sources], GATE_TRAINING)


def without_courtesy(normalised: str) -> str:
    """``normalised`` without its greetings and thanks, or unchanged when nothing else is left."""
    if "好" not in normalised and "谢" not in normalised:
        return (
            normalised.strip(_EDGES) or normalised
        )  # what _COURTESY matches holds one or the other
    rest = _COURTESY.sub(" ", normalised).strip(_EDGES)
    return rest or normalised


def _train_gate() -> TextModel:
    pairs = [pair for path in EXAMPLE_FILES for pair in read_examples(path)]
    texts = [without_courtesy(normalise(text)) for _, text in pairs]
    labels = ["chatter" if label == "chatter" else "business" for label, _ in pairs]
    return train("intent", texts, labels, **GATE_TRAINING)  # type: ignore[arg-type]


def gate_model() -> TextModel:
    """The gate model, built once per process: loaded from the cache directory, or trained (about a
    second) and cached there on first use or when its inputs changed."""
    global _gate
    if _gate is None:
        with _lock:
            if _gate is None:
                path = cache_dir() / f"chatter-gate-{gate_model_key()}.npz"
                _gate = load_or_train(path, _train_gate)
    return _gate


def _words(normalised: str, text: str) -> tuple[str, ...]:
    """The words of ``text``, the gate's reading of ``normalised``: the message's own words (segmented
    once, shared with the seed model) when only punctuation and spaces were stripped from its ends —
    jieba cuts those apart and ``tokens`` drops them — else ``text``'s own."""
    return normalised_tokens(normalised if normalised.strip(_EDGES) == text else text)


def chatter_probability(normalised: str) -> float:
    """The gate's probability (0..1) that already-normalised ``normalised`` is small talk; 0.0 for
    messages longer than ``MAX_GATE_CHARS``."""
    return chatter_probabilities([normalised])[0]


def chatter_probabilities(normalised: Sequence[str]) -> list[float]:
    """``chatter_probability`` of each of ``normalised``, the short ones scored as one batch."""
    out = [0.0] * len(normalised)
    short = [i for i, text in enumerate(normalised) if len(text) <= MAX_GATE_CHARS]
    if not short:
        return out
    model = gate_model()
    texts = [without_courtesy(normalised[i]) for i in short]
    words = [_words(normalised[i], text) for i, text in zip(short, texts, strict=True)]
    rows = model.vectorizer.rows(texts, words)
    chatter = model.labels.index("chatter")
    for i, proba in zip(short, model.classifier.predict_proba(rows)[:, chatter], strict=True):
        out[i] = float(proba)
    return out
