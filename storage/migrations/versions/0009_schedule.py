"""schedule: jobs the scheduler fires once at their time

New table ``scheduled_jobs``: announcements officials scheduled (``/speak 明天 9点 …``), supervisors'
broadcasts, and each occurrence of the recurring digest and brief (``slot``, unique, so two workers
plan one occurrence once). ``ix_scheduled_jobs_due`` finds the pending jobs that fell due.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 18:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = storage.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "scheduled_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("slot", sa.String(length=80), nullable=True),
        sa.Column("official_id", sa.Integer(), nullable=True),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("targets", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("due_at", UTC_TIME, nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("ended_at", UTC_TIME, nullable=True),
        sa.Column("cancelled_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["official_id"],
            ["officials.id"],
            name=op.f("fk_scheduled_jobs_official_id_officials"),
        ),
        sa.ForeignKeyConstraint(
            ["cancelled_by_id"],
            ["officials.id"],
            name=op.f("fk_scheduled_jobs_cancelled_by_id_officials"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_jobs")),
        sa.UniqueConstraint("slot", name=op.f("uq_scheduled_jobs_slot")),
    )
    op.create_index("ix_scheduled_jobs_due", "scheduled_jobs", ["state", "due_at"])
    op.create_index(
        op.f("ix_scheduled_jobs_official_id"), "scheduled_jobs", ["official_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_scheduled_jobs_official_id"), table_name="scheduled_jobs")
    op.drop_index("ix_scheduled_jobs_due", table_name="scheduled_jobs")
    op.drop_table("scheduled_jobs")
