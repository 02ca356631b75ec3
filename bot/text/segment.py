"""Segment normalised Chinese text into words, dropping stop words and punctuation.

The segmenter is jieba's algorithm and dictionary as compiled by jieba-rs (the ``rjieba`` package):
the same words as Python jieba (its pre-split keeps ``5-6`` and ``2022.11.18`` whole, and bare numbers are
tagged ``m``), loaded and cut in a fraction of Python jieba's time and memory (``benchmarks/text.py``
prints the analysis beside Python jieba alone). It is imported on first use, once per process.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from bot.text.normalise import MEMO_SIZE, normalise

_HERE = Path(__file__).resolve().parent
_lock = threading.Lock()
_segmenter: ModuleType | None = None


def _rjieba() -> ModuleType:
    """The segmenter module, imported (and its dictionary loaded) on first use."""
    global _segmenter
    if _segmenter is None:
        with _lock:
            if _segmenter is None:
                import rjieba

                rjieba.cut("预热")  # the dictionary loads on the first call
                _segmenter = rjieba
    return _segmenter


def segmenter_version() -> str:
    """The segmenter's name and version, part of every cached model's key (another version may cut
    words differently)."""
    try:
        return "rjieba " + importlib.metadata.version("rjieba")
    except importlib.metadata.PackageNotFoundError:
        return ""


LINE_BREAK = "\n"
"""What ``tagged_lines`` puts between lines: jieba cuts it out as a word of its own and joins no word
across it, so each line is cut as it would be alone. Normalised text never holds one."""


def tagged_lines(normalised_lines: Sequence[str]) -> list[tuple[str, str]]:
    """``(word, part of speech)`` pairs of ``normalised_lines`` (jieba's tags: ``n`` noun, ``v`` verb,
    ``m`` numeral …; white space is a word tagged ``x``), the lines separated by a ``LINE_BREAK``
    word: one call to the segmenter for all of them.

    Dictionary words only (the HMM off): the HMM's made-up words (庄村, 幼升 of 幼升小) are often
    fragments; characters outside the dictionary come out one by one.
    """
    return _rjieba().tag(LINE_BREAK.join(normalised_lines), hmm=False)


RARE_CHARACTER = "䴖"
"""A character outside jieba's dictionary and its Han range: the first such character jieba tags
loads its part-of-speech data (tens of milliseconds, once per process)."""


def load_tagger() -> None:
    """Load all the part-of-speech tagger loads on first use (``tagged_lines``): the dictionary, and
    the data it reads only when it first tags a character outside it (``RARE_CHARACTER``; some
    9 MB), which would otherwise hold up the first message that holds one."""
    tagged_lines([f"预热{RARE_CHARACTER}"])


@lru_cache(maxsize=8)
def word_list(filename: str) -> frozenset[str]:
    """The words of a list shipped beside this module: one a line, ``#`` lines are comments."""
    lines = (_HERE / filename).read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def stop_words() -> frozenset[str]:
    """The stop words shipped in ``stopwords.txt`` (function words and polite fillers)."""
    return word_list("stopwords.txt")


_WORDISH = re.compile(r"[^\W_]")
"""A letter or digit: ``\\w`` is ``str.isalnum`` (Unicode categories L and N) plus ``_``."""


def is_punctuation(token: str) -> bool:
    """True when ``token`` holds no letter, digit or CJK character (punctuation, symbols, emoji)."""
    return _WORDISH.search(token) is None


def cut(normalised: str) -> list[str]:
    """All tokens of already-normalised text (the HMM guessing words outside the dictionary), white
    space removed, nothing else dropped."""
    if not normalised:
        return []
    return [t for t in _rjieba().cut(normalised, hmm=True) if t.strip()]


class _Kept(dict[str, bool]):
    """Whether each token seen is kept by ``segment`` (neither a stop word nor punctuation), found
    on first sight: a message has some eighty tokens, and a look-up here costs a fraction of the
    two tests."""

    def __missing__(self, token: str) -> bool:
        if len(self) >= MAX_KNOWN_TOKENS:
            self.clear()
        # white space holds no letter, so the one test drops it with the punctuation
        kept = self[token] = token not in stop_words() and _WORDISH.search(token) is not None
        return kept


MAX_KNOWN_TOKENS = 50_000
"""``_KEPT`` forgets every token when it reaches this many (numbers make the set unbounded)."""
_KEPT = _Kept()


def segment(normalised: str) -> tuple[str, ...]:
    """``tokens`` of already-normalised text, segmented now (``normalised_tokens`` remembers them)."""
    if not normalised:
        return ()
    words = _rjieba().cut(normalised, hmm=True)
    return tuple(itertools.compress(words, map(_KEPT.__getitem__, words)))


@lru_cache(maxsize=MEMO_SIZE)
def normalised_tokens(normalised: str) -> tuple[str, ...]:
    """``tokens`` of already-normalised text: segmented once, then remembered, so classification,
    ranking and the ``tokens`` a caller asks for share one segmentation of a message."""
    return segment(normalised)


def tokens(text: str) -> list[str]:
    """Tokens of the normalised ``text`` with stop words and punctuation dropped."""
    return list(normalised_tokens(normalise(text)))


@lru_cache(maxsize=1)
def _question_word_pattern() -> re.Pattern[str]:
    words = sorted(word_list("question_words.txt"), key=len, reverse=True)  # longest first
    return re.compile("|".join(map(re.escape, words)))


def mask_question_words(normalised: str) -> str:
    """``normalised`` with the words of ``question_words.txt`` (什么时候, 怎么办 …) replaced by a space,
    so that neither words nor character n-grams are drawn from them."""
    return _question_word_pattern().sub(" ", normalised)


def char_ngrams(normalised: str, n: int = 2) -> list[str]:
    """Overlapping character ``n``-grams of the letters, digits and CJK characters of ``normalised``.

    Runs are split at punctuation and white space so that no n-gram spans two phrases.
    """
    out: list[str] = []
    for run in re.findall(r"[0-9a-z\u3400-\u9fff]+", normalised):
        if len(run) < n:
            if n == 1 or len(run) == 0:
                continue
            out.append(run)
            continue
        out.extend(run[i : i + n] for i in range(len(run) - n + 1))
    return out
