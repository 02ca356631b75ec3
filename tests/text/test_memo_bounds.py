"""What bot.text remembers of the messages it reads stays bounded: after more distinct messages than
any per-text memo holds, none holds more than ``MEMO_SIZE`` texts, and the kept-token table forgets
what it knew when it is full. Otherwise the bot's memory would grow with every message of every group
(``benchmarks/startup.py`` prints it after 10,000)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest

import bot.text
from bot.text import TextAnalyzer, segment
from bot.text.normalise import MEMO_SIZE
from bot.work import analyse_texts

MESSAGES = [
    "请问3号楼电梯什么时候修好？",
    "建议在小区门口增设路灯，晚上太黑了",
    "楼下烧烤店油烟太大，投诉多次没人管",
    "今天停水了吗？",
    "谢谢大家",
]
PER_TEXT = {"normalise", "normalised_tokens", "topic_of", "message_phrases"}
"""The memos that remember a result per message text."""


def _memos() -> Iterator[tuple[str, Any]]:
    """Every ``functools`` memo defined in a module of bot.text, by name."""
    for info in pkgutil.iter_modules(bot.text.__path__, "bot.text."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if callable(getattr(value, "cache_info", None)) and value.__module__ == module.__name__:
                yield name, value


def test_no_per_text_memo_grows_past_memo_size() -> None:
    analyzer = TextAnalyzer()
    texts = [f"{MESSAGES[i % len(MESSAGES)]} {i}" for i in range(MEMO_SIZE + 200)]  # all distinct
    for start in range(0, len(texts), 50):  # as the dispatcher does, a chunk at a time
        chunk = texts[start : start + 50]
        analyse_texts(analyzer, chunk)
        analyzer.topic_words(chunk)  # the digest's 热点话题
    memos = dict(_memos())
    assert memos.keys() >= PER_TEXT
    for name in PER_TEXT:
        # each saw every text: unbounded, it would hold them all
        assert memos[name].cache_info().currsize == MEMO_SIZE, name
    sizes = {name: memo.cache_info().currsize for name, memo in memos.items()}
    assert max(sizes.values()) <= MEMO_SIZE, sizes


def test_the_kept_token_table_forgets_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment, "MAX_KNOWN_TOKENS", 100)
    segment._KEPT.clear()  # what earlier tests taught it
    seen = []
    for i in range(400):
        words = segment.segment(f"楼道第{i}号灯坏了 编号{i}")
        assert words[:2] == ("楼道", "第") and str(i) in words  # segmented as before
        seen.append(len(segment._KEPT))
    assert max(seen) <= 100
