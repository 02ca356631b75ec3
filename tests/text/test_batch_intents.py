"""Intents classified together (``TextAnalyzer.intents``, what the dispatcher does for a batch of
group messages) are exactly the intents classified one by one — on residents' real messages."""

from __future__ import annotations

import csv

import pytest

from bot.text import TextAnalyzer

pytestmark = pytest.mark.data


def test_a_batch_is_classified_as_each_message_alone(data_dir):
    with (data_dir / "msgabench" / "intent.csv").open(encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)][:300]
    texts += ["收到", "好的谢谢", "", "請問電梯什麼時候修好？"]  # chatter rules, empty, Traditional
    analyzer = TextAnalyzer()
    together = analyzer.intents(texts)
    assert together == [analyzer.intent(t) for t in texts]
    assert {p.label for p in together} >= {"question", "chatter"}
