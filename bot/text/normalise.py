"""Normalise Chinese chat text: Traditional→Simplified, full-width→half-width, lower case, folded spaces.

Every other part of ``bot.text`` works on normalised text, so Traditional and Simplified input, full-width
latin letters and digits, and stray white space all look the same to the classifiers and the ranker.
"""

from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache
from typing import Any

MEMO_SIZE = 1024
"""How many recent texts each per-text memo of bot.text keeps (normalised text, words, topic, topic
phrases). Enough for one message's classification, ranking and topic to share the work, and for a
burst's repeats; more only grew the bot's memory by tens of MB over 10,000 messages."""

_lock = threading.Lock()
_converter: Any = None


def _opencc() -> Any:
    """Return the shared OpenCC ``t2s`` converter, created on first use."""
    global _converter
    if _converter is None:
        with _lock:
            if _converter is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
    return _converter


def to_simplified(text: str) -> str:
    """Convert Traditional Chinese characters to Simplified (OpenCC ``t2s``)."""
    return str(_opencc().convert(text)) if text else text


_COMMON_FORMS = tuple((ch, unicodedata.normalize("NFKC", ch)) for ch in "，？！：（）；～　")
"""The full-width forms Chinese chat is full of, with their NFKC forms."""


def _nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, five to ten times faster on Chinese chat.

    Nearly every message holds full-width punctuation (，？！), which sends NFKC through its slow
    path. Replacing a character by its own NFKC form does not change the text's NFKC form, so those
    are replaced first; what is left is then usually NFKC already (a quick check), else normalised.
    """
    if unicodedata.is_normalized("NFKC", text):
        return text
    for form, plain in _COMMON_FORMS:
        if form in text:
            text = text.replace(form, plain)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


@lru_cache(maxsize=MEMO_SIZE)
def normalise(text: str) -> str:
    """Return ``text`` in the canonical form used by segmentation, classification and ranking.

    Traditional characters become Simplified, full-width forms become half-width, latin letters become
    lower case, compatibility characters are folded (NFKC) and runs of white space become one space.
    NFKC alone turns full-width forms (Ａ１？, the ideographic space) into half-width ones.
    """
    if not text:
        return ""
    text = _nfkc(text)
    text = to_simplified(text).lower()
    # str.split() splits at what ``\s`` matches; a message has few spaces, so few pieces
    return " ".join(text.split())


MAX_ANALYSED_CHARS = 2000
"""Only the start of a very long message is analysed (intent, department, words): a 100,000-character
paste would otherwise hold everything else up for a second. The whole text is still stored."""


def analysed_part(text: str) -> str:
    """The part of ``text`` that is analysed: its first ``MAX_ANALYSED_CHARS`` characters."""
    return text[:MAX_ANALYSED_CHARS]
