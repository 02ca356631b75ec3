"""Topic grouping for early warning (舆情预警): which complaints and questions are about one thing.

``topic_of`` reads one message and names its subject — a canonical outage, facility or nuisance
(停水, 电梯, 油烟 …, however it was phrased: 又停水了, 怎么没水了, 什么时候来水), or else its most specific
noun phrase — and the building it is about, if it names one (3号楼). ``TopicGrouper`` groups a batch of
messages from many groups by that: an outage or a named place is one topic across groups (a water
outage reaches several compounds), while a facility is one topic per group (the 3号楼 elevator of one
compound is not another compound's). A message without a building joins its group's topic of the same
subject that names one (电梯又坏了 beside 3号楼电梯坏了). Small talk is left out.

Keys are stable: the same subject, building and (for local topics) group always give the same key,
whatever the batch or the order of its messages, so a store-side burst detector can count a topic's
messages per window and compare them with the topic's own baseline (``topic_key`` gives one message's
key, for storing beside it). Pure functions over plain values; Traditional input is normalised first.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from bot.text.hot_topics import PLACE, message_phrases
from bot.text.normalise import MEMO_SIZE, analysed_part, normalise
from bot.text.results import Prediction


@dataclass(frozen=True)
class Subject:
    """A canonical subject: its label, the ways residents say it, and whether it spans compounds."""

    label: str
    pattern: str
    area_wide: bool


SUBJECTS: tuple[Subject, ...] = (
    Subject("水质", r"水质|水发黄|水黄|水浑|浑浊|水有味|水有股", True),
    Subject("停水", r"停水|断水|没水|没有水|无水|不来水|来水|水停了|停了水|供水|水压", True),
    Subject("停电", r"停电|断电|没电|没有电|来电|电停了|停了电|供电|跳闸", True),
    Subject("停气", r"停气|断气|没气|没有气|燃气|天然气|煤气", True),
    Subject("供暖", r"暖气|供暖|停暖|取暖", True),
    Subject("断网", r"断网|没网|网断|网络|宽带|网线", True),
    Subject("电梯", r"电梯", False),
    Subject("油烟", r"油烟", False),
    Subject("噪音", r"噪音|噪声|扰民|太吵|吵死|吵得|广场舞|装修声", False),
    Subject("积水", r"积水|淹了|内涝|水淹", False),
    Subject("漏水", r"漏水|渗水|返水|水管爆|爆管", False),
    Subject("垃圾", r"垃圾", False),
    Subject("路灯", r"路灯|楼道灯|灯坏", False),
    Subject("停车", r"停车|车位|乱停|堵车|占道", False),
    Subject("门禁", r"门禁", False),
    Subject("快递", r"快递", False),
)
"""Subjects in order of precedence: a message about an outage that mentions the elevator (停电了电梯也停了)
is about the outage; 自来水发黄 is about water quality, not an outage (来水)."""
TOPIC_INTENTS = ("question", "complaint")
"""Intents grouped into topics: a burst of complaints and questions is what early warning is about."""


@dataclass(frozen=True)
class TopicRef:
    """What one message is about: a subject label, the building it names (``""`` if none), and whether
    the subject spans compounds."""

    subject: str
    place: str
    area_wide: bool

    @property
    def local(self) -> bool:
        """True when the topic belongs to one group: a facility, or anything in a named building."""
        return not self.area_wide or bool(self.place)

    def key(self, group: str) -> str:
        """The stable key of this topic as seen from ``group``: the subject (and building) alone when it
        spans groups, prefixed with the group when it is local."""
        name = f"{self.place}{self.subject}"
        return f"{group}|{name}" if self.local else name


@dataclass(frozen=True)
class TopicMessage:
    """A message to group: its id, the group it was posted in, its text and (optionally) its time."""

    id: str
    group: str
    text: str
    at: datetime | None = None


@dataclass(frozen=True)
class Topic:
    """Messages about one thing: a stable ``key``, a ``label`` for people (3号楼电梯, 停水, 烧烤店油烟),
    the groups involved and the messages, oldest first when they carry a time."""

    key: str
    label: str
    subject: str
    messages: tuple[TopicMessage, ...]

    @property
    def groups(self) -> tuple[str, ...]:
        """The groups with a message in this topic, sorted."""
        return tuple(sorted({m.group for m in self.messages}))

    @property
    def first(self) -> TopicMessage:
        """The earliest message."""
        return self.messages[0]

    @property
    def latest(self) -> TopicMessage:
        """The latest message."""
        return self.messages[-1]


@lru_cache(maxsize=1)
def _subject_patterns() -> list[tuple[Subject, re.Pattern[str]]]:
    return [(s, re.compile(s.pattern)) for s in SUBJECTS]


@lru_cache(maxsize=1)
def _any_subject() -> re.Pattern[str]:
    """Any subject's pattern: one scan tells whether a text names a subject at all (most name none),
    the patterns one by one then which comes first in ``SUBJECTS``. (The patterns are bare
    alternatives of words, joined flat: the regex engine scans a flat alternation of literals ten
    times faster than one of groups.)"""
    return re.compile("|".join(s.pattern for s in SUBJECTS))


_PLACE = re.compile(PLACE)


@lru_cache(maxsize=MEMO_SIZE)
def topic_of(text: str) -> TopicRef | None:
    """What ``text`` is about, or None when it names nothing a topic can be made of.

    The first subject of ``SUBJECTS`` it mentions wins; otherwise its longest noun phrase (公交站改线 →
    公交站) stands for itself, across groups, as a named place or service would.
    """
    normalised = normalise(analysed_part(text))
    place_match = _PLACE.search(normalised)
    place = place_match.group() if place_match else ""
    if _any_subject().search(normalised):
        for subject, pattern in _subject_patterns():
            if pattern.search(normalised):
                return TopicRef(subject.label, place, subject.area_wide)
    # longest first, phrases of one length in text order (Python's sort is stable, reversed too)
    ordered = sorted(sorted(message_phrases(text)), key=len, reverse=True)
    best = next((p for p in ordered if not _PLACE.fullmatch(p)), None)
    if best is None:
        return None
    return TopicRef(best, place if place not in best else "", True)


def topic_key(text: str, group: str) -> str | None:
    """The stable topic key of one message posted in ``group`` (None when it names no topic), for
    storing beside the message: storage cannot import ``bot.text``, so a burst detector there counts
    these keys. It is the key ``TopicGrouper`` gives, except that a facility message naming no
    building (电梯又坏了) keeps its own key instead of joining its group's 3号楼电梯 topic."""
    ref = topic_of(text)
    return ref.key(group) if ref else None


def _label(topic_messages: Sequence[TopicMessage], ref: TopicRef) -> str:
    """The phrase residents used most for the topic when it contains the subject (烧烤店油烟), else
    building + subject."""
    base = f"{ref.place}{ref.subject}"
    counts = Counter(
        p for m in topic_messages for p in message_phrases(m.text) if base in p or ref.subject in p
    )
    best = max(counts.items(), key=lambda kv: (kv[1], len(kv[0]), kv[0]), default=None)
    if best and best[1] * 2 > len(topic_messages) and len(best[0]) >= len(base):
        return best[0]
    return base


class TopicGrouper:
    """Group complaints and questions from many groups into topics (see the module docstring).

    ``classify`` labels a text's intent (``TextAnalyzer.intent`` fits); messages whose intent is not
    one of ``intents`` — small talk above all — are left out. Without ``classify`` every message that
    names a topic is kept.
    """

    def __init__(
        self,
        classify: Callable[[str], Prediction] | None = None,
        intents: Sequence[str] = TOPIC_INTENTS,
    ) -> None:
        self.classify = classify
        self.intents = tuple(intents)

    def refs(self, messages: Iterable[TopicMessage]) -> list[tuple[TopicMessage, TopicRef]]:
        """The messages that belong to a topic, each with what it is about."""
        out = []
        for message in messages:
            if self.classify and self.classify(message.text).label not in self.intents:
                continue
            ref = topic_of(message.text)
            if ref is not None:
                out.append((message, ref))
        return out

    def group(self, messages: Iterable[TopicMessage]) -> list[Topic]:
        """The topics of ``messages``, largest first (ties by key)."""
        refs = self.refs(messages)
        placed: dict[tuple[str, str], set[str]] = {}
        for message, ref in refs:
            if ref.place and not ref.area_wide:
                placed.setdefault((message.group, ref.subject), set()).add(ref.place)
        by_key: dict[str, list[TopicMessage]] = {}
        ref_of_key: dict[str, TopicRef] = {}
        for message, ref in refs:
            places = placed.get((message.group, ref.subject), set())
            if not ref.place and not ref.area_wide and len(places) == 1:
                # 电梯又坏了 in a group that talks of 3号楼电梯 means that elevator.
                ref = TopicRef(ref.subject, next(iter(places)), ref.area_wide)
            key = ref.key(message.group)
            by_key.setdefault(key, []).append(message)
            ref_of_key[key] = ref
        topics = []
        for key, items in by_key.items():
            items.sort(key=lambda m: (m.at is None, m.at or datetime.min, m.id))
            ref = ref_of_key[key]
            topics.append(Topic(key, _label(items, ref), ref.subject, tuple(items)))
        return sorted(topics, key=lambda t: (-len(t.messages), t.key))
