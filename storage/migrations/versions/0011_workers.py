"""workers: several ``minyi run`` processes on one PostgreSQL

New table ``workers`` (one row per process started: host, pid, when); ``outbox.claimed_by`` names the
worker that marked a send ``sending``. Two partial indexes answer the per-chat order checks:
``ix_inbox_chat_pending`` (a chat's pending events by id) and ``ix_outbox_chat_open`` (a chat's sends
still pending or being sent).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = storage.models.UTCDateTime(timezone=True)
PENDING = sa.text("state = 'pending'")
OPEN = sa.text("state IN ('pending', 'sending')")


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.Integer(), nullable=True))
    op.create_index(
        "ix_inbox_chat_pending",
        "inbox",
        ["chat_key", "id"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )
    op.create_index(
        "ix_outbox_chat_open",
        "outbox",
        ["platform", "chat_id", "id"],
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_chat_open", table_name="outbox")
    op.drop_index("ix_inbox_chat_pending", table_name="inbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_by")
    op.drop_table("workers")
