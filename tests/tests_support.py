"""Paths tests share (kept out of conftest so test modules can import them)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
