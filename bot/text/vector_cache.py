"""``VectorCache``: document embeddings kept on disk between runs, keyed by model and text.

Embedding thousands of long templates with the CPU model takes minutes, and the bot would otherwise pay
that at every start. The cache maps ``sha256(model name, text)`` to the vector, so an edited template is
embedded again, an unchanged one never is, and a different model never reuses another model's vectors.

The file is a plain ``.npz`` (two arrays, no pickles) written atomically; a file that cannot be read is
reported once in the log and replaced on the next save — a cache never stops the bot from starting.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_DIGEST = hashlib.sha256().digest_size


def _key(model: str, text: str) -> bytes:
    return hashlib.sha256(f"{model}\0{text}".encode()).digest()


class VectorCache:
    """Vectors of texts embedded by ``model``, loaded from and saved to ``path``.

    ``lookup`` returns what is known; ``save`` writes the vectors of the texts given (the current
    documents), so the file never outgrows the template library.
    """

    def __init__(self, path: str | Path, model: str) -> None:
        self.path = Path(path)
        self.model = model
        self._vectors: dict[bytes, np.ndarray] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"]
            if keys.dtype != np.uint8 or keys.shape[1:] != (_DIGEST,) or len(keys) != len(vectors):
                raise ValueError("unexpected layout")
        except (OSError, ValueError, KeyError) as exc:
            log.warning("embedding cache %s is unreadable (%s); it will be rebuilt", self.path, exc)
            return
        # Digests are stored as rows of bytes: numpy's fixed-width byte strings would drop trailing NULs.
        self._vectors = {k.tobytes(): v for k, v in zip(keys, vectors, strict=True)}

    def __len__(self) -> int:
        return len(self._vectors)

    def lookup(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        """The cached vector of each text, or ``None`` where it has not been embedded yet."""
        return [self._vectors.get(_key(self.model, t)) for t in texts]

    def save(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Keep exactly ``texts`` → ``vectors`` (row by row) and write the file atomically."""
        keys = [_key(self.model, t) for t in texts]
        self._vectors = dict(zip(keys, np.asarray(vectors, dtype=np.float32), strict=True))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    keys=np.frombuffer(b"".join(self._vectors), dtype=np.uint8).reshape(
                        -1, _DIGEST
                    ),
                    vectors=np.array(list(self._vectors.values()), dtype=np.float32),
                )
            os.replace(tmp, self.path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            log.warning("could not write the embedding cache %s (%s)", self.path, exc)
