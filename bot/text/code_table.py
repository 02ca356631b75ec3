"""``CodeTable``: a hash table from non-negative 64-bit integers to integers, looked up a whole array at once.

Classifying a batch of messages looks up some twenty thousand character n-gram numbers in a model's
vocabulary. A binary search over the sorted vocabulary (``np.searchsorted``) spends about fifty
nanoseconds a number on mispredicted branches; this open-addressing table (multiplicative hashing,
linear probing, at most a quarter full) finds most numbers at the first slot it reads, in a handful of
array operations over the batch.
"""

from __future__ import annotations

import numpy as np

_EMPTY = -1
"""The key of an empty slot (keys are non-negative)."""
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
"""2^64 divided by the golden ratio: spreads consecutive keys (code points) over the table."""


class CodeTable:
    """Map each of ``keys`` (distinct, non-negative) to the value at the same position of ``values``."""

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.int64)
        values = np.asarray(values, dtype=np.int64)
        bits = max(4, int(4 * len(keys)).bit_length())
        self._shift = np.uint64(64 - bits)
        self._mask = (1 << bits) - 1
        self._keys = np.full(1 << bits, _EMPTY, dtype=np.int64)
        self._values = np.zeros(1 << bits, dtype=np.int64)
        pending = np.arange(len(keys))
        home = self._home(keys)
        slots = home.copy()
        while len(pending):
            # Every pending key takes its slot if the slot is free and no key before it in this
            # round claims it too; the others try the next slot. A key passes only taken slots.
            free = self._keys[slots] == _EMPTY
            _, first = np.unique(slots[free], return_index=True)
            won = np.flatnonzero(free)[first]
            self._keys[slots[won]] = keys[pending[won]]
            self._values[slots[won]] = values[pending[won]]
            lost = np.ones(len(pending), dtype=bool)
            lost[won] = False
            pending, slots = pending[lost], (slots[lost] + 1) & self._mask
        taken = np.flatnonzero(self._keys != _EMPTY)
        displaced = (taken - self._home(self._keys[taken])) & self._mask
        self._reach = int(displaced.max(initial=0)) + 1
        """How many slots from its home slot on may hold a key: the most any key was moved, plus one."""

    def __len__(self) -> int:
        return int(np.count_nonzero(self._keys != _EMPTY))

    def _home(self, keys: np.ndarray) -> np.ndarray:
        """The slot each key's probing starts at."""
        return (keys.astype(np.uint64) * _MULTIPLIER >> self._shift).astype(np.int64)

    def get(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For ``keys`` (non-negative int64): which are in the table (a mask), and their values in
        the order of ``keys``."""
        keys = np.asarray(keys, dtype=np.int64)
        home = self._home(keys)
        held = self._keys[home]
        at = np.where(held == keys, home, -1)
        # The few keys whose home slot holds another key: read the next slots, as far as any key
        # was moved, all at once.
        rest = np.flatnonzero((at < 0) & (held != _EMPTY))
        if len(rest) and self._reach > 1:
            block = (home[rest, None] + np.arange(1, self._reach)) & self._mask
            match = self._keys[block] == keys[rest, None]
            hit = match.any(axis=1)
            at[rest[hit]] = block[hit, match[hit].argmax(axis=1)]
        found = at >= 0
        return found, self._values[at[found]]
