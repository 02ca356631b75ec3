"""attention by time: the residents' complaints nobody @-mentioned, found by when they were posted

``/summary`` and ``minyi report`` count the period's messages that need attention (complaints and
requests for help nobody @-mentioned: ``AttentionStore.unaddressed_count``). Without an index the count
read every message of the period to find the few that need attention, and every question to tell
whether each became a ticket: a partial index on ``sent_at`` of just those rows finds them at once, and
an index on ``questions.message_id`` answers the second.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 02:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_needs_attention_at",
        "messages",
        ["sent_at"],
        postgresql_where=sa.text("needs_attention"),
        sqlite_where=sa.text("needs_attention = 1"),
    )
    op.create_index("ix_questions_message", "questions", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_questions_message", table_name="questions")
    op.drop_index("ix_messages_needs_attention_at", table_name="messages")
