"""loop: the closed loop of 接诉即办 — 督办 stages, extensions, transfers and returns, 回访, history

Questions get their time limit's label, the times of the reminder (stage 1) and the second level of
督办 (stage 3) with when each went out, a pending extension, who transferred them last and when, and
when a 回访 was asked for. Ratings get their source (``resident`` or ``visit``). ``ticket_steps`` holds
the steps that change no state, for a ticket's history.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.models import CleanString, CleanText, UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMES = (
    "remind_at",
    "reminded_at",
    "second_level_at",
    "second_level_sent_at",
    "extension_due_at",
    "transferred_at",
    "revisit_at",
    "revisit_reminded_at",
)


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild on SQLite): every new column is nullable or has a default.
    add = op.add_column
    add("questions", sa.Column("limit_label", CleanString(40), server_default="", nullable=False))
    for name in _TIMES:
        add("questions", sa.Column(name, UTCDateTime(timezone=True), nullable=True))
    add("questions", sa.Column("extension_official_id", sa.Integer(), nullable=True))
    add("questions", sa.Column("extension_reason", CleanText(), server_default="", nullable=False))
    add("questions", sa.Column("transferred_by_id", sa.Integer(), nullable=True))
    add("ratings", sa.Column("source", CleanString(20), server_default="resident", nullable=False))
    op.create_index("ix_questions_state_remind", "questions", ["state", "remind_at"])
    op.create_index("ix_questions_state_second_level", "questions", ["state", "second_level_at"])
    op.create_table(
        "ticket_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("kind", CleanString(30), nullable=False),
        sa.Column("at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("official_id", sa.Integer(), nullable=True),
        sa.Column("note", CleanText(), nullable=False),
        sa.ForeignKeyConstraint(
            ["official_id"], ["officials.id"], name=op.f("fk_ticket_steps_official_id_officials")
        ),
        sa.ForeignKeyConstraint(
            ["question_id"], ["questions.id"], name=op.f("fk_ticket_steps_question_id_questions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_steps")),
    )
    op.create_index(
        op.f("ix_ticket_steps_question_id"), "ticket_steps", ["question_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ticket_steps_question_id"), table_name="ticket_steps")
    op.drop_table("ticket_steps")
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("source")
    op.drop_index("ix_questions_state_second_level", table_name="questions")
    op.drop_index("ix_questions_state_remind", table_name="questions")
    with op.batch_alter_table("questions") as batch:
        for name in ("transferred_by_id", "extension_reason", "extension_official_id", *_TIMES):
            batch.drop_column(name)
        batch.drop_column("limit_label")
