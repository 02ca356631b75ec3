"""suggestions latest: an official's latest suggestions found by index, not by sorting all they were shown

``pending_suggestions`` (an official's bare number in the private chat, ``/reply 2``, a suggestion
button) looks for the latest suggestions shown to the official, of any question or of one, by
``ORDER BY id DESC``. The index on ``(official_id, at)`` held them in time order, so every suggestion
ever shown to the official (three per ticket alerted) was read and sorted at each pick: an official's
history made each answer slower. Indexes on ``(official_id, id)`` and ``(official_id, question_id, id)``
hold them in the order asked for; they replace the one on ``(official_id, at)``, which nothing else
reads.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_suggestions_official_id", "suggestions", ["official_id", "id"])
    op.create_index(
        "ix_suggestions_official_question", "suggestions", ["official_id", "question_id", "id"]
    )
    op.drop_index("ix_suggestions_official_at", table_name="suggestions")


def downgrade() -> None:
    op.create_index("ix_suggestions_official_at", "suggestions", ["official_id", "at"])
    op.drop_index("ix_suggestions_official_question", table_name="suggestions")
    op.drop_index("ix_suggestions_official_id", table_name="suggestions")
