"""The default intent classifier: small-talk rules, weighted cue words and a model of seed examples.

Used when no trained model is configured. Everything it knows is written in this repository: the cue
words in ``cues.py``, the chatter rules in ``chatter.py`` and the hand-written ``seed_examples.txt``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.text.chatter import chatter_score
from bot.text.cues import cue_scores
from bot.text.model import FORMAT, TextModel, train
from bot.text.normalise import normalise
from bot.text.results import ACTIONABLE, Prediction

log = logging.getLogger(__name__)
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


SEED_TRAINING = {"c": 10.0, "min_df": 1, "classifier": "logistic"}
"""How the seed model is trained (softmax regression: its probabilities are blended with the cues)."""
_MODEL_SOURCES = ("features.py", "linear.py", "model.py", "normalise.py", "segment.py", "intent.py")
"""The code a trained seed model depends on: an edit to any of them invalidates the cached file."""


def cache_dir() -> Path:
    """Where minyi keeps files it can always rebuild: ``$MINYI_CACHE_DIR``, else ``$XDG_CACHE_HOME/minyi``,
    else ``~/.cache/minyi``."""
    explicit = os.environ.get("MINYI_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "minyi"


def seed_model_key() -> str:
    """A digest of everything the seed model is made from: the seed examples, the training settings,
    the model format, the code that trains and featurises, and jieba's version."""
    digest = hashlib.sha256()
    digest.update(SEED_FILE.read_bytes())
    digest.update(json.dumps([SEED_TRAINING, FORMAT, _jieba_version()], sort_keys=True).encode())
    here = Path(__file__).resolve().parent
    for name in _MODEL_SOURCES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:32]


def _jieba_version() -> str:
    try:
        return importlib.metadata.version("jieba")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _train_seed_model() -> TextModel:
    pairs = read_seed_examples()
    texts = [normalise(t) for _, t in pairs]
    labels = [label for label, _ in pairs]
    return train("intent", texts, labels, **SEED_TRAINING)  # type: ignore[arg-type]


def _cached_seed_model() -> TextModel:
    """Load the seed model from the cache, training and saving it there first when it is missing.

    What is used is always what the file holds (the saved weights are float32), so the first start and
    every later one classify alike. A cache that cannot be read is rebuilt; one that cannot be written
    only costs the training at every start (logged once).
    """
    path = cache_dir() / f"seed-intent-{seed_model_key()}.npz"
    if path.is_file():
        try:
            return TextModel.load(path)
        except ValueError as exc:
            log.warning("the cached seed model is unreadable (%s); training it again", exc)
    model = _train_seed_model()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
        model.save(partial)
        os.replace(partial, path)
        return TextModel.load(path)
    except (OSError, ValueError) as exc:
        log.warning(
            "could not cache the seed model in %s (%s); it is trained at every start", path, exc
        )
        return model


def seed_model() -> TextModel:
    """The model of the seed examples, built once per process: loaded from the cache directory
    (``cache_dir``), trained and cached there on first use or when its inputs changed."""
    global _seed_model
    if _seed_model is None:
        with _lock:
            if _seed_model is None:
                _seed_model = _cached_seed_model()
    return _seed_model


def _cue_proba(scores: dict[str, float]) -> np.ndarray:
    """Cue scores (``cue_scores``) as probabilities over ``ACTIONABLE`` (uniform when no cue is found)."""
    z = CUE_SHARPNESS * np.asarray([scores[label] for label in ACTIONABLE])
    e = np.exp(z - z.max())
    return np.asarray(e / e.sum())


class DefaultIntentClassifier:
    """Chatter rules first, then cue words blended with the seed-example model."""

    def predict(self, normalised: str) -> Prediction:
        """Classify already-normalised text."""
        return self.predict_many([normalised])[0]

    def predict_many(self, normalised: Sequence[str]) -> list[Prediction]:
        """Classify already-normalised texts: those the chatter rules do not settle go through the
        seed model as one matrix (one sparse row per message cost more than the model itself)."""
        chats = [chatter_score(text) for text in normalised]
        out: list[Prediction | None] = [
            Prediction("chatter", round(chat, 4), chat >= 0.75)
            if chat >= CHATTER_THRESHOLD
            else None
            for chat in chats
        ]
        rest = [i for i, p in enumerate(out) if p is None]
        if rest:
            model = seed_model()
            proba = model.classifier.predict_proba(
                model.vectorizer.transform([normalised[i] for i in rest])
            )
            index = {label: j for j, label in enumerate(model.labels)}
            for i, row in zip(rest, proba, strict=True):
                out[i] = _blend(normalised[i], chats[i], row, index)
        return [p for p in out if p is not None]


def _blend(normalised: str, chat: float, proba: np.ndarray, index: dict[str, int]) -> Prediction:
    """The seed model's probabilities for one text blended with its cue words."""
    by_label = {label: float(proba[j]) for label, j in index.items()}
    seed = np.asarray([by_label.get(label, 0.0) for label in ACTIONABLE])
    cues = cue_scores(normalised)
    if max(cues.values()) <= 0.0 and by_label.get("chatter", 0.0) > seed.max():
        return Prediction("chatter", round(float(by_label["chatter"]), 4), False)
    seed = seed / seed.sum()
    mixed = CUE_WEIGHT * _cue_proba(cues) + (1.0 - CUE_WEIGHT) * seed
    i = int(mixed.argmax())
    conf = float(mixed[i]) * (1.0 - chat)
    return Prediction(ACTIONABLE[i], round(conf, 4), conf >= MIN_CONFIDENCE)
