"""question phrases: each question's candidate hot-topic phrases, stored beside it

``question_phrases`` holds, per question, the phrases ``bot.text.hot_topics.question_phrases`` finds in
its text with personal data masked; from now on the unit of work that opens a question stores them
(``TicketStore.open_question``), and the supervisor summary counts the period's questions per phrase in
SQL (``storage/reports.py``) instead of reading and segmenting every text. The phrases of the questions
already stored are found here, ``BATCH`` questions at a time (read by id, inserted in one statement), so
a large store neither holds every text in memory nor sends a statement per phrase.

Storage does not segment text: this data migration alone imports the bot's phrase function, as it is
when the migration runs.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5_000
"""Questions read, segmented and inserted at a time."""

QUESTIONS = sa.table("questions", sa.column("id", sa.Integer()), sa.column("text", sa.Text()))
PHRASES = sa.table(
    "question_phrases", sa.column("question_id", sa.Integer()), sa.column("phrase", sa.String())
)


def upgrade() -> None:
    op.create_table(
        "question_phrases",
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("phrase", storage.models.CleanString(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"], ["questions.id"], name=op.f("fk_question_phrases_question_id_questions")
        ),
        sa.PrimaryKeyConstraint("question_id", "phrase", name=op.f("pk_question_phrases")),
        # SQLite keeps a question's phrases together in key order, as PostgreSQL's key index does.
        sqlite_with_rowid=False,
    )
    fill(op.get_bind())


def fill(connection: sa.Connection) -> None:
    """Store the phrases of every question, ``BATCH`` questions at a time in id order."""
    from bot.text.hot_topics import question_phrases  # the bot's rule; storage has none of its own

    last = 0
    while True:
        batch = connection.execute(
            sa.select(QUESTIONS.c.id, QUESTIONS.c.text)
            .where(QUESTIONS.c.id > last)
            .order_by(QUESTIONS.c.id)
            .limit(BATCH)
        ).all()
        if not batch:
            return
        found = [
            {"question_id": question_id, "phrase": phrase}
            for question_id, text in batch
            for phrase in sorted(question_phrases(text or ""))
        ]
        if found:
            connection.execute(PHRASES.insert(), found)
        last = batch[-1][0]


def downgrade() -> None:
    op.drop_table("question_phrases")
