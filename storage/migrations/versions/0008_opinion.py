"""opinion: topic keys and early warnings, 同问 links, unaddressed complaints, the suggestions registry

``messages`` gain ``topic_key`` (what a resident's message is about; ``ix_messages_topic_window``
lets the burst detector count one topic's messages in a window), ``needs_attention`` and
``attention_alerted_at`` (complaints nobody @-mentioned, and when officials were shown them);
``questions`` gain ``duplicate_of_id`` (同问). New tables: ``opinion_warnings`` (舆情预警),
``resident_suggestions`` and ``suggestion_changes`` (好想法好建议).

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-30 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = storage.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("topic_key", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column("needs_attention", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("attention_alerted_at", UTC_TIME, nullable=True))
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("needs_attention", server_default=None)
    op.create_index("ix_messages_topic_window", "messages", ["topic_key", "sent_at"])
    op.create_index(
        "ix_messages_attention",
        "messages",
        ["group_id", "needs_attention", "attention_alerted_at"],
    )
    with op.batch_alter_table("questions") as batch:
        batch.add_column(sa.Column("duplicate_of_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_questions_duplicate_of_id_questions"),
            "questions",
            ["duplicate_of_id"],
            ["id"],
        )
        batch.create_index(op.f("ix_questions_duplicate_of_id"), ["duplicate_of_id"])
    op.create_table(
        "opinion_warnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_key", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("groups", sa.Text(), nullable=False),
        sa.Column("first_message_id", sa.Integer(), nullable=False),
        sa.Column("latest_message_id", sa.Integer(), nullable=False),
        sa.Column("window_start", UTC_TIME, nullable=False),
        sa.Column("raised_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["first_message_id"],
            ["messages.id"],
            name=op.f("fk_opinion_warnings_first_message_id_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["latest_message_id"],
            ["messages.id"],
            name=op.f("fk_opinion_warnings_latest_message_id_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opinion_warnings")),
    )
    op.create_index(
        "ix_opinion_warnings_topic_raised", "opinion_warnings", ["topic_key", "raised_at"]
    )
    op.create_table(
        "resident_suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("adopted_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_resident_suggestions_message_id_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["adopted_by_id"],
            ["officials.id"],
            name=op.f("fk_resident_suggestions_adopted_by_id_officials"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_suggestions")),
        sa.UniqueConstraint("message_id", name=op.f("uq_resident_suggestions_message_id")),
    )
    op.create_index(
        "ix_resident_suggestions_created", "resident_suggestions", ["created_at"]
    )
    op.create_table(
        "suggestion_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("suggestion_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("official_id", sa.Integer(), nullable=True),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["suggestion_id"],
            ["resident_suggestions.id"],
            name=op.f("fk_suggestion_changes_suggestion_id_resident_suggestions"),
        ),
        sa.ForeignKeyConstraint(
            ["official_id"],
            ["officials.id"],
            name=op.f("fk_suggestion_changes_official_id_officials"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suggestion_changes")),
    )
    op.create_index(
        op.f("ix_suggestion_changes_suggestion_id"), "suggestion_changes", ["suggestion_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_suggestion_changes_suggestion_id"), table_name="suggestion_changes")
    op.drop_table("suggestion_changes")
    op.drop_index("ix_resident_suggestions_created", table_name="resident_suggestions")
    op.drop_table("resident_suggestions")
    op.drop_index("ix_opinion_warnings_topic_raised", table_name="opinion_warnings")
    op.drop_table("opinion_warnings")
    with op.batch_alter_table("questions") as batch:
        batch.drop_index(op.f("ix_questions_duplicate_of_id"))
        batch.drop_constraint(op.f("fk_questions_duplicate_of_id_questions"), type_="foreignkey")
        batch.drop_column("duplicate_of_id")
    op.drop_index("ix_messages_attention", table_name="messages")
    op.drop_index("ix_messages_topic_window", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("attention_alerted_at")
        batch.drop_column("needs_attention")
        batch.drop_column("topic_key")
