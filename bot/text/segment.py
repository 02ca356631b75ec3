"""Segment normalised Chinese text into words with jieba, dropping stop words and punctuation.

jieba is loaded lazily, once per process, and kept quiet (no "Building prefix dict" lines on stderr).
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Any

from bot.text.normalise import normalise

_HERE = Path(__file__).resolve().parent
_lock = threading.Lock()
_tokenizer: Any = None
_tagger: Any = None


def _jieba() -> Any:
    """Return the shared jieba tokenizer, initialised on first use with logging turned down."""
    global _tokenizer
    if _tokenizer is None:
        with _lock:
            if _tokenizer is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                logging.getLogger("jieba").setLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
                _tokenizer = tok
    return _tokenizer


def _pos_tagger() -> Any:
    """Return the shared jieba part-of-speech tagger (over the shared tokenizer), made on first use."""
    global _tagger
    if _tagger is None:
        tokenizer = _jieba()
        with _lock:
            if _tagger is None:
                import jieba.posseg

                _tagger = jieba.posseg.POSTokenizer(tokenizer)
    return _tagger


def tagged(normalised: str) -> list[tuple[str, str]]:
    """``(word, part of speech)`` pairs of already-normalised text (jieba's tags: ``n`` noun, ``v`` verb,
    ``m`` numeral …), white space removed.

    Dictionary words only (jieba's HMM off): six times faster on long letters, so a summary of
    thousands of messages takes seconds, and the HMM's made-up words (庄村, 幼升 of 幼升小) are often
    fragments; characters outside the dictionary come out one by one.
    """
    if not normalised:
        return []
    return [(p.word, p.flag) for p in _pos_tagger().cut(normalised, HMM=False) if p.word.strip()]


@lru_cache(maxsize=8)
def word_list(filename: str) -> frozenset[str]:
    """The words of a list shipped beside this module: one a line, ``#`` lines are comments."""
    lines = (_HERE / filename).read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def stop_words() -> frozenset[str]:
    """The stop words shipped in ``stopwords.txt`` (function words and polite fillers)."""
    return word_list("stopwords.txt")


@lru_cache(maxsize=65536)
def is_punctuation(token: str) -> bool:
    """True when ``token`` holds no letter, digit or CJK character (punctuation, symbols, emoji)."""
    return not any(unicodedata.category(ch)[0] in "LN" for ch in token)


def cut(normalised: str) -> list[str]:
    """All jieba tokens of already-normalised text, white space removed, nothing else dropped."""
    if not normalised:
        return []
    return [t for t in _jieba().lcut(normalised, HMM=True) if t.strip()]


def segment(normalised: str) -> tuple[str, ...]:
    """``tokens`` of already-normalised text, segmented now (``normalised_tokens`` remembers them)."""
    stops = stop_words()
    return tuple(t for t in cut(normalised) if t not in stops and not is_punctuation(t))


@lru_cache(maxsize=8192)
def normalised_tokens(normalised: str) -> tuple[str, ...]:
    """``tokens`` of already-normalised text: segmented once, then remembered, so classification,
    ranking and the ``tokens`` a caller asks for share one segmentation of a message."""
    return segment(normalised)


def tokens(text: str) -> list[str]:
    """jieba tokens of the normalised ``text`` with stop words and punctuation dropped."""
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
