"""Hot-topic phrases: what a batch of residents' messages is about, in the words people use.

A supervisor reading 热点话题 wants 停水, 3号楼电梯 and 烧烤店油烟 — not 下楼, 小区 or a fragment jieba
cut out of a longer word. So phrases are built from the nouns of each message (jieba's part-of-speech
tags), joined with their neighbours (3号楼 + 电梯 → 3号楼电梯), plus building numbers and the problem
words of ``topic_phrases.txt``, which jieba does not keep whole (停水, 广场舞). Words that every
community message uses (小区, 楼下, 业主: ``topic_stopwords.txt``) and question words never count. A phrase's count is the number of
messages that mention it, and a shorter phrase gives way to a longer one that covers most of its
mentions, so 电梯 is not listed beside 3号楼电梯 for the same five messages.

The counting and the ranking are apart so that a store can count: a question's phrases
(``question_phrases``) are stored when it is asked, the store counts the period's (at least
``phrase_support`` mentions each), and ``rank_phrases`` applies the rest of the rules to those counts.
``hot_phrases`` is the same over texts in memory.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache

from bot.text.normalise import MEMO_SIZE, analysed_part, normalise
from bot.text.privacy import mask
from bot.text.segment import LINE_BREAK, tagged_lines, word_list

_NUMERALS = "一二三四五六七八九十两"
PLACE = rf"(?=[\d{_NUMERALS}])(?:\d+|[{_NUMERALS}]+)(?:号楼|号院|号门|号线|栋楼|栋|幢|单元|期)"
"""Building, block, unit, phase and line numbers (3号楼, 5栋, 二期, 2单元, 4号线): jieba cuts them apart.
(The lookahead lets the regex engine pass over a position where no number starts at one test.)"""


@lru_cache(maxsize=1)
def _fixed_words() -> re.Pattern[str]:
    """Building numbers and the problem words of ``topic_phrases.txt``, longest first."""
    words = sorted(word_list("topic_phrases.txt"), key=len, reverse=True)
    starts = re.escape("".join(sorted({w[0] for w in words})))
    alternatives = "|".join(map(re.escape, words))
    # The lookahead on the first character: three times faster than the bare alternation. The group
    # makes ``split`` return the words found between the parts of the text.
    return re.compile(rf"(?=[\d{_NUMERALS}{starts}])({PLACE}|{alternatives})")


_CONTENT_TAGS = frozenset({"n", "ns", "nt", "nz", "nl", "ng", "vn", "eng", "topic"})
"""Nouns (not person names: a resident's name is no topic), verbal nouns, latin words, fixed words."""
_JOINERS = frozenset({"的"})
"""Words allowed between two nouns of one phrase (3号楼的电梯 → 3号楼电梯)."""
MAX_RUN_WORDS = 3
MAX_PHRASE_CHARS = 10
MIN_BATCH_FOR_REPEATS = 20
DOMINANT_SHARE = 0.6
"""A phrase is dropped when a longer phrase containing it is mentioned in this share of its messages."""


@lru_cache(maxsize=1)
def generic_words() -> frozenset[str]:
    """Words that are never a topic on their own: ``topic_stopwords.txt`` and ``question_words.txt``."""
    return word_list("topic_stopwords.txt") | word_list("question_words.txt")


def _runs(normalised: str) -> list[list[str]]:
    """Maximal runs of adjacent topic words (nouns, fixed words) in ``normalised``; generic words,
    verbs, particles and punctuation end a run.

    Words are jieba's tagged words, with building numbers and problem words kept whole (tag
    ``topic``): the parts of the text between those are tagged in one call (``tagged_lines``).
    """
    pieces = _fixed_words().split(normalised)  # part, fixed word, part, …, part
    between = iter(pieces[1::2])
    generic = generic_words()
    runs: list[list[str]] = []
    current: list[str] = []
    pending_joiner = False
    for word, tag in tagged_lines(pieces[::2]):
        if word == LINE_BREAK:
            word, tag = next(between), "topic"
        if tag in _CONTENT_TAGS and word not in generic and not word.isdigit():
            current.append(word)
            pending_joiner = False
        elif word in _JOINERS and current and not pending_joiner:
            pending_joiner = True
        elif current and word.strip():  # white space is no word: it ends nothing
            runs.append(current)
            current, pending_joiner = [], False
    if current:
        runs.append(current)
    return runs


@lru_cache(maxsize=MEMO_SIZE)
def message_phrases(text: str) -> frozenset[str]:
    """Every candidate topic phrase of one message: each run of topic words and its contiguous parts
    of up to ``MAX_RUN_WORDS`` words, two to ``MAX_PHRASE_CHARS`` characters long."""
    found: set[str] = set()
    for run in _runs(normalise(analysed_part(text))):
        if len(run) == 1:  # most runs are one noun: its only phrase is itself
            if 2 <= len(run[0]) <= MAX_PHRASE_CHARS:
                found.add(run[0])
            continue
        for i in range(len(run)):
            for j in range(i + 1, min(i + MAX_RUN_WORDS, len(run)) + 1):
                phrase = "".join(run[i:j])
                if 2 <= len(phrase) <= MAX_PHRASE_CHARS:
                    found.add(phrase)
    return frozenset(found)


def question_phrases(text: str) -> frozenset[str]:
    """The phrases a question counts for in 热点话题: those of its text with residents' personal data
    masked (``bot.text.privacy``), so an e-mail address or a phone number never becomes a topic."""
    return message_phrases(mask(text))


def phrase_support(messages: int) -> int:
    """How many of ``messages`` messages must mention a phrase for it to be a hot topic.

    From ``MIN_BATCH_FOR_REPEATS`` messages on, a phrase needs two mentions: in a day's traffic one
    resident's wording is not a hot topic; in a handful of messages (a quiet week's few questions) each
    one's subject is worth naming.
    """
    return 2 if messages >= MIN_BATCH_FOR_REPEATS else 1


def rank_phrases(frequent: Mapping[str, int], k: int = 5) -> list[tuple[str, int]]:
    """The ``k`` most mentioned of ``frequent`` (each phrase with at least ``phrase_support`` mentions:
    how many messages mention it), a phrase dropped where a longer one containing it has
    ``DOMINANT_SHARE`` of its mentions; most mentions first, then the longer phrase, then by text."""
    dominated: set[str] = set()
    for longer, m in frequent.items():
        # Every phrase inside ``longer`` is one of its substrings: at most MAX_PHRASE_CHARS² of them,
        # where comparing every pair of phrases would cost the square of their number.
        for i in range(len(longer)):
            for j in range(i + 1, len(longer) + 1):
                part = longer[i:j]
                n = frequent.get(part) if part != longer else None
                if n is not None and m >= DOMINANT_SHARE * n:
                    dominated.add(part)
    kept = [(p, n) for p, n in frequent.items() if p not in dominated]
    kept.sort(key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))
    return kept[: max(k, 0)]


def hot_phrases(texts: Iterable[str], k: int = 5) -> list[tuple[str, int]]:
    """The ``k`` phrases mentioned by the most messages of ``texts``, with how many mention each
    (``phrase_support`` mentions at least; ``rank_phrases``'s rules)."""
    per_message = [message_phrases(t) for t in texts]
    counts: Counter[str] = Counter(p for phrases in per_message for p in phrases)
    support = phrase_support(len(per_message))
    return rank_phrases({p: n for p, n in counts.items() if n >= support}, k)
