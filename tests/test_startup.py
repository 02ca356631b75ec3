"""Start-up: ``minyi run`` says what it loaded, a start with cached text models does not import scipy, and
a database already at the newest schema is not migrated again (Alembic is not even imported), while one
a revision behind still is."""

from __future__ import annotations

import subprocess
import sys

from alembic import command
from sqlalchemy import inspect

from bot.text import TextAnalyzer
from storage import current_revision, make_engine, upgrade
from storage.database import alembic_config, schema_heads
from tests_support import REPO


def test_the_ready_line_says_what_was_loaded(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--config", str(REPO / "bot.toml"), "run"],
        input="",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={
            "PATH": "/usr/bin:/bin",
            "MINYI_DATABASE__URL": f"sqlite:///{tmp_path / 'm.db'}",
            "MINYI_CACHE_DIR": str(tmp_path / "cache"),
        },
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    ready = next(line for line in result.stderr.splitlines() if line.startswith("minyi: ready"))
    assert "database sqlite" in ready
    assert "templates" in ready and "officials" in ready
    assert "seed intent model, bm25 ranker" in ready
    # No input: the run ended at once, yet the models it trained are cached for the next start.
    cached = sorted(p.name.split("-")[0] for p in (tmp_path / "cache").glob("*.npz"))
    assert cached == ["chatter", "seed"], cached


def test_a_database_behind_the_scripts_is_migrated_and_one_at_their_head_is_left(db_url):
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        assert {current_revision(engine)} == schema_heads()
        command.downgrade(alembic_config(engine), "0002")
        assert "ix_questions_assignee_state" not in {
            ix["name"] for ix in inspect(engine).get_indexes("questions")
        }
        upgrade(engine)  # behind: migrated
        assert {current_revision(engine)} == schema_heads()
        assert "ix_questions_assignee_state" in {
            ix["name"] for ix in inspect(engine).get_indexes("questions")
        }
        upgrade(engine)  # at the head: nothing to do, nothing breaks
        assert {current_revision(engine)} == schema_heads()
    finally:
        engine.dispose()


def test_a_start_at_the_newest_schema_does_not_import_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    probe = (
        "import sys; from storage import make_engine, upgrade; "
        f"upgrade(make_engine({url!r})); print('alembic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.strip() == "False", out.stderr


def test_a_start_with_cached_models_classifies_and_ranks_without_scipy() -> None:
    """Training needs scipy; a start whose models are cached does not import it (it was a large part
    of ``minyi run``'s resident memory)."""
    sample = "请问小区电梯坏了什么时候能修好？"
    TextAnalyzer().intents([sample])  # trains and caches the models (MINYI_CACHE_DIR) if need be
    probe = (
        "import sys; from bot.app import build_ranker; from bot.templating import TemplateLibrary; "
        "from bot.text import TextAnalyzer; t = TextAnalyzer(); "
        f"i = t.intents([{sample!r}, '谢谢大家']); t.department({sample!r}); t.topic_words([{sample!r}]); "
        f"r = build_ranker(t, TemplateLibrary.load()).rank({sample!r}, k=3); "
        "print(i[0].label, len(r), 'scipy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.split() == ["question", "3", "False"], out.stderr
