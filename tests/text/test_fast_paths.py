"""The short cuts of bot.text give what the plain ways give: a message classified, segmented, tagged
and ranked fast is classified, segmented, tagged and ranked as before."""

from __future__ import annotations

import random
import unicodedata

import numpy as np
import pytest

from bot.text.code_table import CodeTable
from bot.text.features import run_codes, text_run_codes
from bot.text.hot_topics import message_phrases
from bot.text.normalise import _nfkc
from bot.text.segment import LINE_BREAK, _rjieba, segment, stop_words, tagged_lines

MESSAGES = [
    "请问小区电梯坏了什么时候能修好？",
    "３号楼　電梯又停了！！大家注意安全，谢谢～",
    "今天包了饺子，谁家要尝尝",
    "建议在5栋2单元门口增设路灯……晚上太黑了（已经反映多次）",
    "①停水②停电③断网：物业到底管不管？",
    "abc 123 x!y? ½ ﬁ café Å",
    "",
    "   ",
]


def test_nfkc_is_unicode_nfkc_on_chat_and_on_mixed_scripts() -> None:
    """Full-width marks are replaced before NFKC's quick check; the result is NFKC all the same."""
    rng = random.Random(7)
    pool = [chr(c) for c in [*range(0x20, 0x250), *range(0x300, 0x370), *range(0x2000, 0x2100)]]
    pool += [
        chr(c) for c in [*range(0x3000, 0x3100), *range(0xFF00, 0xFFF0), *range(0xAC00, 0xAC20)]
    ]
    pool += list("，？！：（）；～　") * 10
    texts = MESSAGES + ["".join(rng.choices(pool, k=rng.randint(1, 12))) for _ in range(3000)]
    assert [_nfkc(t) for t in texts] == [unicodedata.normalize("NFKC", t) for t in texts]


def test_segment_drops_exactly_stop_words_punctuation_and_space() -> None:
    stops = stop_words()
    for text in MESSAGES:
        words = _rjieba().cut(text, hmm=True)
        expected = tuple(
            w
            for w in words
            if w.strip() and w not in stops and any(ch.isalnum() for ch in w)  # letters, digits
        )
        assert segment(text) == expected


def test_lines_tagged_together_are_tagged_as_alone() -> None:
    """``tagged_lines`` joins parts by a line break: each part comes back as jieba tags it alone."""
    parts = [m for m in MESSAGES if m.strip()] + ["停", "", "3号楼的电梯"]
    alone = [[p for p in _rjieba().tag(part, hmm=False) if p[0].strip()] for part in parts]
    together: list[list[tuple[str, str]]] = [[]]
    for word, tag in tagged_lines(parts):
        if word == LINE_BREAK:
            together.append([])
        elif word.strip():
            together[-1].append((word, tag))
    assert together == alone


def test_topic_phrases_keep_building_numbers_and_problem_words_whole() -> None:
    assert {"3号楼电梯", "电梯"} <= message_phrases("3号楼的电梯又坏了")
    assert "停水" in message_phrases("小区停水三天了")


def test_query_codes_are_the_batch_codes() -> None:
    for text in MESSAGES:
        chars, bigrams = text_run_codes(text.lower())
        assert chars == run_codes([text.lower()], 1)[0].tolist()
        assert bigrams == run_codes([text.lower()], 2)[0].tolist()


@pytest.mark.parametrize("size", [0, 1, 7, 5000])
def test_code_table_answers_like_a_dict(size: int) -> None:
    rng = np.random.default_rng(size)
    keys = np.unique(rng.integers(0, 2**62, 2 * size + 1))[:size]
    values = rng.integers(0, 10**6, len(keys))
    table = CodeTable(keys, values)
    asked = np.concatenate([keys, rng.integers(0, 2**62, 100), keys[:3]])
    found, got = table.get(asked)
    expected = dict(zip(keys.tolist(), values.tolist(), strict=True))
    assert found.tolist() == [k in expected for k in asked.tolist()]
    assert got.tolist() == [expected[k] for k in asked.tolist() if k in expected]
    assert len(table) == size
