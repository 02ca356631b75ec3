"""question phrases: each question's candidate hot-topic phrases, stored beside it

``question_phrases`` holds, per question, the phrases ``bot.text.hot_topics.question_phrases`` finds in
its text with personal data masked; from now on the unit of work that opens a question stores them
(``TicketStore.open_question``), and the supervisor summary counts the period's questions per phrase in
SQL (``storage/reports.py``) instead of reading and segmenting every text. The phrases of the questions
already stored are found here, ``BATCH`` questions at a time (read by id; their phrases inserted by one
statement on PostgreSQL), so a large store never holds every text in memory.

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
FOREIGN_KEY = "fk_question_phrases_question_id_questions"
"""Questions read, segmented and inserted at a time."""

QUESTIONS = sa.table("questions", sa.column("id", sa.Integer()), sa.column("text", sa.Text()))
PHRASES = sa.table(
    "question_phrases", sa.column("question_id", sa.Integer()), sa.column("phrase", sa.String())
)
UNNEST = sa.text(
    "INSERT INTO question_phrases (question_id, phrase) "
    "SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:phrases AS varchar[]))"
)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    key = sa.ForeignKeyConstraint(["question_id"], ["questions.id"], name=op.f(FOREIGN_KEY))
    op.create_table(
        "question_phrases",
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("phrase", storage.models.CleanString(length=40), nullable=False),
        *([] if postgresql else [key]),  # SQLite cannot add one to a table it has
        sa.PrimaryKeyConstraint("question_id", "phrase", name=op.f("pk_question_phrases")),
        # SQLite keeps a question's phrases together in key order, as PostgreSQL's key index does.
        sqlite_with_rowid=False,
    )
    fill(op.get_bind())
    if postgresql:
        # Checked once over the filled table, not by a trigger per inserted row.
        op.create_foreign_key(op.f(FOREIGN_KEY), "question_phrases", "questions", ["question_id"], ["id"])


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
            (question_id, phrase)
            for question_id, text in batch
            for phrase in sorted(question_phrases(text or ""))
        ]
        if found:
            insert(connection, found)
        last = batch[-1][0]


def insert(connection: sa.Connection, found: list[tuple[int, str]]) -> None:
    """Insert (question id, phrase) rows: on PostgreSQL as two arrays in one statement (a row at a
    time, the driver's round trips cost more than the segmenting), elsewhere as an executemany."""
    if connection.dialect.name == "postgresql":
        ids, phrases = zip(*found, strict=True)
        connection.execute(UNNEST, {"ids": list(ids), "phrases": list(phrases)})
    else:
        connection.execute(PHRASES.insert(), [{"question_id": q, "phrase": p} for q, p in found])


def downgrade() -> None:
    op.drop_table("question_phrases")
