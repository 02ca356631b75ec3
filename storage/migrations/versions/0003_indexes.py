"""indexes: the supervisor summary's period and the question path's look-ups

The summary reads questions by ``created_at``, engagements by ``at`` and messages per group by ``sent_at``
with what it counts (``ix_messages_group_window`` covers that GROUP BY and replaces
``ix_messages_group_sent``, its prefix; ``ix_messages_window`` does the same by time alone and replaces
``ix_messages_sent_intent``);
assignment counts each official's waiting questions (``assignee_id, state``); a reply to an
acknowledgement finds its question by ``ack_platform_message_id``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 13:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_messages_group_window",
        "messages",
        ["group_id", "sent_at", "intent", "intent_confident", "from_official"],
        unique=False,
    )
    op.drop_index("ix_messages_group_sent", table_name="messages")
    op.create_index(
        "ix_messages_window",
        "messages",
        ["sent_at", "intent", "intent_confident", "from_official", "group_id"],
        unique=False,
    )
    op.drop_index("ix_messages_sent_intent", table_name="messages")
    op.create_index(
        "ix_questions_assignee_state", "questions", ["assignee_id", "state"], unique=False
    )
    op.create_index("ix_questions_created", "questions", ["created_at"], unique=False)
    op.create_index(
        "ix_questions_ack_message", "questions", ["ack_platform_message_id"], unique=False
    )
    op.create_index("ix_engagements_at", "engagements", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_engagements_at", table_name="engagements")
    op.drop_index("ix_questions_ack_message", table_name="questions")
    op.drop_index("ix_questions_created", table_name="questions")
    op.drop_index("ix_questions_assignee_state", table_name="questions")
    op.create_index("ix_messages_sent_intent", "messages", ["sent_at", "intent"], unique=False)
    op.drop_index("ix_messages_window", table_name="messages")
    op.create_index("ix_messages_group_sent", "messages", ["group_id", "sent_at"], unique=False)
    op.drop_index("ix_messages_group_window", table_name="messages")
