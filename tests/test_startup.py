"""Start-up: ``minyi run`` says what it loaded, and a database already at the newest schema is not
migrated again (Alembic is not even imported), while one a revision behind still is."""

from __future__ import annotations

import subprocess
import sys

from alembic import command
from sqlalchemy import inspect

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
        env={"PATH": "/usr/bin:/bin", "MINYI_DATABASE__URL": f"sqlite:///{tmp_path / 'm.db'}"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    ready = next(line for line in result.stderr.splitlines() if line.startswith("minyi: ready"))
    assert "database sqlite" in ready
    assert "templates" in ready and "officials" in ready
    assert "seed intent model, bm25 ranker" in ready


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
