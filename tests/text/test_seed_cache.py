"""The seed intent model is trained once and then loaded from the cache directory, keyed by its inputs."""

from __future__ import annotations

import pytest

from bot.text import intent
from bot.text.normalise import normalise

SAMPLES = [
    "请问小区电梯坏了什么时候能修好？",
    "建议多装几个快递柜",
    "又停水了，太不像话",
    "哈哈好的",
]


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """An empty cache directory and no model in memory (restored afterwards)."""
    monkeypatch.setenv("MINYI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(intent, "_seed_model", None)
    return tmp_path / "cache"


def test_first_use_trains_and_caches_later_uses_load(fresh, monkeypatch):
    first = intent.seed_model()
    files = list(fresh.glob("seed-intent-*.npz"))
    assert [f.name for f in files] == [f"seed-intent-{intent.seed_model_key()}.npz"]
    monkeypatch.setattr(intent, "_seed_model", None)
    monkeypatch.setattr(intent, "_train_seed_model", lambda: pytest.fail("trained again"))
    again = intent.seed_model()
    texts = [normalise(t) for t in SAMPLES]
    assert first.predict_many(texts) == again.predict_many(texts)


def test_a_damaged_cache_file_is_rebuilt(fresh, caplog):
    fresh.mkdir(parents=True)
    path = fresh / f"seed-intent-{intent.seed_model_key()}.npz"
    path.write_bytes(b"not a model")
    model = intent.seed_model()
    assert model.labels and "training it again" in caplog.text
    assert path.read_bytes() != b"not a model"


def test_an_unwritable_cache_still_gives_a_model(monkeypatch, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("MINYI_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(intent, "_seed_model", None)
    assert intent.seed_model().labels
    assert "could not cache" in caplog.text


def test_the_key_follows_the_seed_examples(monkeypatch, tmp_path):
    before = intent.seed_model_key()
    edited = tmp_path / "seed.txt"
    edited.write_bytes(intent.SEED_FILE.read_bytes() + "question\t新的问题吗\n".encode())
    monkeypatch.setattr(intent, "SEED_FILE", edited)
    assert intent.seed_model_key() != before


def test_the_chatter_gate_is_cached_too(fresh, monkeypatch):
    from bot.text import chatter_gate

    monkeypatch.setattr(chatter_gate, "_gate", None)
    first = chatter_gate.chatter_probability(normalise("今天包了饺子，谁家要尝尝"))
    assert [f.name for f in fresh.glob("chatter-gate-*.npz")] == [
        f"chatter-gate-{chatter_gate.gate_model_key()}.npz"
    ]
    monkeypatch.setattr(chatter_gate, "_gate", None)
    monkeypatch.setattr(chatter_gate, "_train_gate", lambda: pytest.fail("trained again"))
    assert chatter_gate.chatter_probability(normalise("今天包了饺子，谁家要尝尝")) == first > 0.5
