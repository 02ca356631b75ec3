"""The default intent classifier: small-talk rules, weighted cue words and a model of seed examples.

Used when no trained model is configured. Everything it knows is written in this repository: the cue
words in ``cues.py``, the chatter rules in ``chatter.py`` and the hand-written ``seed_examples.txt``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from bot.text.chatter import chatter_score
from bot.text.cues import cue_scores
from bot.text.model import TextModel, train
from bot.text.normalise import normalise
from bot.text.results import ACTIONABLE, Prediction

SEED_FILE = Path(__file__).resolve().parent / "seed_examples.txt"
CHATTER_THRESHOLD = 0.5
"""A message whose chatter score reaches this is labelled chatter."""
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
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, _, text = line.partition("\t")
        if text.strip():
            pairs.append((label.strip(), text.strip()))
    return pairs


def seed_model() -> TextModel:
    """The model trained on the seed examples, built once per process (well under a second)."""
    global _seed_model
    if _seed_model is None:
        with _lock:
            if _seed_model is None:
                pairs = read_seed_examples()
                texts = [normalise(t) for _, t in pairs]
                labels = [label for label, _ in pairs]
                # Softmax regression: its probabilities are blended with the cue rules below.
                _seed_model = train(
                    "intent", texts, labels, c=10.0, min_df=1, classifier="logistic"
                )
    return _seed_model


def _cue_proba(normalised: str) -> np.ndarray:
    """Cue scores as probabilities over ``ACTIONABLE`` (uniform when no cue is found)."""
    scores = cue_scores(normalised)
    z = CUE_SHARPNESS * np.asarray([scores[label] for label in ACTIONABLE])
    e = np.exp(z - z.max())
    return np.asarray(e / e.sum())


class DefaultIntentClassifier:
    """Chatter rules first, then cue words blended with the seed-example model."""

    def predict(self, normalised: str) -> Prediction:
        """Classify already-normalised text."""
        chat = chatter_score(normalised)
        if chat >= CHATTER_THRESHOLD:
            return Prediction("chatter", round(chat, 4), chat >= 0.75)
        model = seed_model()
        proba = model.classifier.predict_proba(model.vectorizer.transform([normalised]))[0]
        by_label = dict(zip(model.labels, proba, strict=True))
        seed = np.asarray([by_label.get(label, 0.0) for label in ACTIONABLE])
        cues = cue_scores(normalised)
        if max(cues.values()) <= 0.0 and by_label.get("chatter", 0.0) > seed.max():
            return Prediction("chatter", round(float(by_label["chatter"]), 4), False)
        seed = seed / seed.sum()
        mixed = CUE_WEIGHT * _cue_proba(normalised) + (1.0 - CUE_WEIGHT) * seed
        i = int(mixed.argmax())
        conf = float(mixed[i]) * (1.0 - chat)
        return Prediction(ACTIONABLE[i], round(conf, 4), conf >= MIN_CONFIDENCE)
