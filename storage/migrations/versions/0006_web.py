"""web: officials' console passwords (argon2 hashes only)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_accounts",
        sa.Column("official_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["official_id"],
            ["officials.id"],
            name=op.f("fk_web_accounts_official_id_officials"),
        ),
        sa.PrimaryKeyConstraint("official_id", name=op.f("pk_web_accounts")),
    )


def downgrade() -> None:
    op.drop_table("web_accounts")
