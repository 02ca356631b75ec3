"""The default intent classifier: small-talk rules and gate, weighted cue words and a model of seed examples.

Used when no trained model is configured. Everything it knows is written in this repository: the cue
words in ``cues.py``, the chatter rules in ``chatter.py``, the chatter gate of ``chatter_gate.py`` (trained
on ``chatter_examples.txt``) and the hand-written ``seed_examples.txt``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.text.chatter import chatter_score
from bot.text.chatter_gate import chatter_probabilities
from bot.text.cues import cue_weights, saturated, strongest
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
from bot.text.results import ACTIONABLE, Prediction

SEED_FILE = HERE / "seed_examples.txt"
CHATTER_THRESHOLD = 0.5
"""A message whose chatter score reaches this is labelled chatter."""
GATE_THRESHOLD = 0.5
"""A message the chatter gate (``chatter_gate.py``) gives this probability or more is labelled chatter."""
BUSINESS_CUE = 2.0
"""A message holding a cue word this strong (请问, 建议, 投诉, 扰民 …) is never chatter by the gate."""
GATE_CONFIDENT = 0.75
"""From this gate probability on, chatter is confident (an @-mention then gets the greeting, no ticket)."""
MIN_CONFIDENCE = 0.5
"""Below this, a prediction is marked not confident."""
CUE_SHARPNESS = 1.0
"""How strongly cue scores are turned into probabilities."""
CUE_WEIGHT = 0.6
"""Share of the cue rules in the final probabilities (the rest is the seed model)."""

_lock = threading.Lock()
_seed_model: TextModel | None = None


def read_seed_examples(path: Path = SEED_FILE) -> list[tuple[str, str]]:
    """The ``(label, text)`` pairs of the seed file (comments and blank lines skipped)."""
    return read_examples(path)


SEED_TRAINING = {"c": 10.0, "min_df": 1, "classifier": "logistic"}
"""How the seed model is trained (softmax regression: its probabilities are blended with the cues)."""


def seed_model_key() -> str:
    """A digest of everything the seed model is made from: the seed examples, the training settings,
    the model format, the code that trains and featurises, and jieba's version."""
    sources = [HERE / name for name in (*MODEL_SOURCES, "intent.py")]
    return inputs_key([SEED_FILE, *sources], SEED_TRAINING)


def _train_seed_model() -> TextModel:
    pairs = read_seed_examples()
    texts = [normalise(t) for _, t in pairs]
    labels = [label for label, _ in pairs]
    return train("intent", texts, labels, **SEED_TRAINING)  # type: ignore[arg-type]


def _cached_seed_model() -> TextModel:
    """Load the seed model from the cache, training and saving it there first when it is missing."""
    path = cache_dir() / f"seed-intent-{seed_model_key()}.npz"
    return load_or_train(path, lambda: _train_seed_model())


def seed_model() -> TextModel:
    """The model of the seed examples, built once per process: loaded from the cache directory
    (``cache_dir``), trained and cached there on first use or when its inputs changed."""
    global _seed_model
    if _seed_model is None:
        with _lock:
            if _seed_model is None:
                _seed_model = _cached_seed_model()
    return _seed_model


class DefaultIntentClassifier:
    """Chatter rules and gate first, then cue words blended with the seed-example model."""

    def predict(self, normalised: str) -> Prediction:
        """Classify already-normalised text."""
        return self.predict_many([normalised])[0]

    def predict_many(self, normalised: Sequence[str]) -> list[Prediction]:
        """Classify already-normalised texts: those the chatter rules do not settle go through the
        chatter gate as one batch, and those it does not settle through the seed model as one batch
        (a model call per message cost more than the model). Each text's cue words are found once."""
        chats = [chatter_score(text) for text in normalised]
        out: list[Prediction | None] = [
            Prediction("chatter", round(chat, 4), chat >= 0.75)
            if chat >= CHATTER_THRESHOLD
            else None
            for chat in chats
        ]
        open_ = [i for i, p in enumerate(out) if p is None]
        cues = {i: cue_weights(normalised[i]) for i in open_}
        gates = chatter_probabilities([normalised[i] for i in open_])
        for i, gate in zip(open_, gates, strict=True):
            # chatter by the gate, unless a business cue is strong
            if gate >= GATE_THRESHOLD and strongest(cues[i]) < BUSINESS_CUE:
                out[i] = Prediction("chatter", round(gate, 4), gate >= GATE_CONFIDENT)
        rest = [i for i in open_ if out[i] is None]
        if rest:
            model = seed_model()
            proba = model.classifier.predict_proba(
                model.vectorizer.rows([normalised[i] for i in rest])
            )
            blended = _blend(
                [saturated(cues[i]) for i in rest], [chats[i] for i in rest], proba, model.labels
            )
            for i, prediction in zip(rest, blended, strict=True):
                out[i] = prediction
        return [p for p in out if p is not None]


def _blend(
    cues: Sequence[dict[str, float]],
    chats: Sequence[float],
    proba: np.ndarray,
    labels: Sequence[str],
) -> list[Prediction]:
    """The seed model's probabilities (``proba``, a row per text, columns ``labels``) blended with
    each text's cue scores (``cue_scores``) and lowered by its chatter score. Three numbers a text, in
    plain Python: numpy's fixed cost per call was more than the arithmetic, batch or not."""
    index = {label: j for j, label in enumerate(labels)}
    out = []
    for found, chat, row in zip(cues, chats, proba.tolist(), strict=True):
        seed = [row[index[k]] if k in index else 0.0 for k in ACTIONABLE]
        p_chatter = row[index["chatter"]] if "chatter" in index else 0.0
        scores = [found[k] for k in ACTIONABLE]
        # No cue at all and the seed model sure of chatter beyond every actionable intent: chatter.
        if max(scores) <= 0.0 and p_chatter > max(seed):
            out.append(Prediction("chatter", round(p_chatter, 4), False))
            continue
        total = sum(seed)
        # Cue scores as probabilities over ``ACTIONABLE`` (uniform when no cue is found).
        top = max(scores) * CUE_SHARPNESS
        e = [math.exp(CUE_SHARPNESS * v - top) for v in scores]
        e_total = sum(e)
        mixed = [
            CUE_WEIGHT * (x / e_total) + (1.0 - CUE_WEIGHT) * (p / total)
            for x, p in zip(e, seed, strict=True)
        ]
        best = mixed.index(max(mixed))
        conf = mixed[best] * (1.0 - chat)
        out.append(Prediction(ACTIONABLE[best], round(conf, 4), conf >= MIN_CONFIDENCE))
    return out
