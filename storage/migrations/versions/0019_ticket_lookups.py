"""ticket lookups: a ticket's engagements and the extensions awaiting a decision found by index

``/history Q12`` (and ``minyi ticket show``) read a ticket's engagements by ``question_id``, which had
no index: every engagement of every official was read for one ticket. ``/approve`` without a number
lists the extensions awaiting a decision: it read every waiting question (by ``state``) to find the
few with ``extension_due_at`` set. An index on ``engagements (question_id)``, and a partial index of
the waiting questions with an extension requested (its condition written into the query's SQL as it
stands here: ``storage.rows.extension_pending``), keep both to the rows they show.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EXTENSION_PENDING = "state IN ('open', 'reopened', 'transferred') AND extension_due_at IS NOT NULL"


def upgrade() -> None:
    op.create_index("ix_engagements_question", "engagements", ["question_id"])
    op.create_index(
        "ix_questions_extension_pending",
        "questions",
        ["state", "id"],
        postgresql_where=sa.text(EXTENSION_PENDING),
        sqlite_where=sa.text(EXTENSION_PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_questions_extension_pending", table_name="questions")
    op.drop_index("ix_engagements_question", table_name="engagements")
