"""The crash suite's streams say what they mean: every question opens a ticket (the intent model does
not take it for small talk), no chatter is a rating, and a seed gives the same stream."""

from __future__ import annotations

import random

import pytest
from crash_stream import CHATTER, QUESTIONS, console_script

from bot.commands import parse_rating
from bot.text import TextAnalyzer

pytestmark = pytest.mark.crash


def test_stream_questions_open_tickets() -> None:
    analyzer = TextAnalyzer(departments={})
    for template in QUESTIONS:
        for building in (1, 17, 1234):
            text = template.format(n=building)
            intent = analyzer.intent(text)
            assert not (intent.label == "chatter" and intent.confident), (text, intent)


def test_chatter_is_neither_a_rating_nor_a_number() -> None:
    for text in CHATTER:
        assert parse_rating(text) is None and not text.strip().isdigit(), text


def test_a_seed_gives_the_same_console_script() -> None:
    one = console_script(random.Random(7), lines=50, tag="甲", first_building=1)
    two = console_script(random.Random(7), lines=50, tag="甲", first_building=1)
    assert one == two
    texts = [line.text for line in one if line.kind != "status"]
    assert len(texts) == len(set(texts))
