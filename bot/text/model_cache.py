"""Keep the models minyi trains from its own example files in a cache directory, keyed by their inputs.

The default intent model and the chatter gate are trained from files in this package at first use; a
second start loads the saved ``.npz`` instead of training again. The file name carries a digest of every
input (example files, settings, the code that trains and featurises, the segmenter's version), so an edit to any
of them trains a fresh model rather than loading a stale one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bot.text.model import FORMAT, TextModel
from bot.text.segment import segmenter_version

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
MODEL_SOURCES = ("features.py", "linear.py", "model.py", "normalise.py", "segment.py")
"""The code every cached model depends on; callers add their own module and example files."""


def cache_dir() -> Path:
    """Where minyi keeps files it can always rebuild: ``$MINYI_CACHE_DIR``, else ``$XDG_CACHE_HOME/minyi``,
    else ``~/.cache/minyi``."""
    explicit = os.environ.get("MINYI_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "minyi"


def inputs_key(files: Iterable[Path], settings: Any) -> str:
    """A digest of ``files`` (example files and code), JSON-able ``settings``, the model format and
    the segmenter's version."""
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    digest.update(json.dumps([settings, FORMAT, segmenter_version()], sort_keys=True).encode())
    return digest.hexdigest()[:32]


def load_or_train(path: Path, train: Callable[[], TextModel]) -> TextModel:
    """The model saved at ``path``, else ``train()``'s model, saved there first.

    What is used is always what the file holds (the saved weights are float32), so the first start and
    every later one classify alike. A file that cannot be read is rebuilt; one that cannot be written
    only costs the training at every start (logged).
    """
    if path.is_file():
        try:
            return TextModel.load(path)
        except ValueError as exc:
            log.warning("the cached model %s is unreadable (%s); training it again", path.name, exc)
    model = train()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.npz")
        model.save(partial)
        os.replace(partial, path)
        return TextModel.load(path)
    except (OSError, ValueError) as exc:
        log.warning("could not cache the model in %s (%s); it is trained at every start", path, exc)
        return model


def read_examples(path: Path) -> list[tuple[str, str]]:
    """The ``(label, text)`` pairs of an example file: ``label<TAB>text`` a line, ``#`` comments and
    blank lines skipped."""
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, _, text = line.partition("\t")
        if text.strip():
            pairs.append((label.strip(), text.strip()))
    return pairs
