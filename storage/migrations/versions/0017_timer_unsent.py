"""timer unsent: the 督办 check finds the stages and 回访 reminders still to fire, not those it fired

Every minute the 督办 check (``handlers.overdue``) claims the waiting questions whose reminder (stage
1), deadline (stage 2) or second level (stage 3) has passed and not gone out, and the answers still
unrated at their 回访 time. The indexes on ``(state, remind_at)`` and ``(state, second_level_at)`` held
every waiting question past the stage's time, those already reminded too; stage 2 read the waiting
questions past their deadline by ``(state, due_at)`` (on SQLite with statistics, every question: a
state matches many rows on average) and the 回访 reminder every answered question (``revisit_at`` had
no index). A backlog of overdue tickets, or of answers nobody rated, was read again at every check.
Partial indexes hold only the questions each still has to fire for (their conditions are written into
the queries' SQL as they stand here: ``storage.rows.timer_waiting``); they replace migration 0005's two.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "state IN ('open', 'reopened', 'transferred') AND duplicate_of_id IS NULL"
INDEXES = (
    ("ix_questions_remind_unsent", "remind_at", f"{WAITING} AND reminded_at IS NULL"),
    (
        "ix_questions_overdue_unnotified",
        "due_at",
        f"{WAITING} AND (overdue_notified_at IS NULL OR overdue_notified_at <= answered_at)",
    ),
    (
        "ix_questions_second_level_unsent",
        "second_level_at",
        f"{WAITING} AND second_level_sent_at IS NULL",
    ),
    (
        "ix_questions_revisit_unsent",
        "revisit_at",
        "state = 'answered' AND revisit_reminded_at IS NULL",
    ),
)


def upgrade() -> None:
    for name, column, where in INDEXES:
        op.create_index(
            name,
            "questions",
            ["state", column],
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )
    op.drop_index("ix_questions_state_second_level", table_name="questions")
    op.drop_index("ix_questions_state_remind", table_name="questions")


def downgrade() -> None:
    op.create_index("ix_questions_state_remind", "questions", ["state", "remind_at"])
    op.create_index("ix_questions_state_second_level", "questions", ["state", "second_level_at"])
    for name, _column, _where in reversed(INDEXES):
        op.drop_index(name, table_name="questions")
