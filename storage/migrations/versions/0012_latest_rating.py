"""latest rating: each question carries its latest rating

``questions`` gain ``latest_rating_id`` and ``latest_score``: the id and score of the question's latest
rating (the highest id), which the supervisor summary counts (``storage/reports.py``). A trigger on
``ratings`` keeps them in the transaction that inserts the ratings, whatever code inserts them
(PostgreSQL: once per INSERT statement, over the rows it inserted; SQLite: once per row). Ratings are
never deleted or changed. The ratings already stored are filled in here.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 21:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A rating replaces the one a question carries only when it is later (a higher id): two transactions
# rating one question in either commit order leave the latest (PostgreSQL re-checks the condition on
# the row the first one committed).
LATER = "(questions.latest_rating_id IS NULL OR questions.latest_rating_id < {0}.id)"


def upgrade() -> None:
    with op.batch_alter_table("questions") as batch:
        batch.add_column(sa.Column("latest_rating_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("latest_score", sa.String(length=30), nullable=True))
    # The trigger first: on PostgreSQL creating it locks out inserts into ratings until this migration
    # commits, so no rating is missed between the trigger and the fill.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION questions_latest_rating() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE questions SET latest_rating_id = latest.id, latest_score = latest.score "
            "FROM (SELECT DISTINCT ON (question_id) question_id, id, score FROM inserted "
            "ORDER BY question_id, id DESC) AS latest "
            f"WHERE questions.id = latest.question_id AND {LATER.format('latest')}; "
            "RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER questions_latest_rating AFTER INSERT ON ratings "
            "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
            "EXECUTE FUNCTION questions_latest_rating()"
        )
    else:
        op.execute(
            "CREATE TRIGGER questions_latest_rating AFTER INSERT ON ratings BEGIN "
            "UPDATE questions SET latest_rating_id = new.id, latest_score = new.score "
            f"WHERE questions.id = new.question_id AND {LATER.format('new')}; END"
        )
    latest = "(SELECT max(id) FROM ratings WHERE ratings.question_id = questions.id)"
    op.execute(
        f"UPDATE questions SET latest_rating_id = {latest}, "
        f"latest_score = (SELECT score FROM ratings WHERE ratings.id = {latest}) "
        "WHERE id IN (SELECT question_id FROM ratings)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER questions_latest_rating ON ratings")
        op.execute("DROP FUNCTION questions_latest_rating()")
    else:
        op.execute("DROP TRIGGER questions_latest_rating")
    with op.batch_alter_table("questions") as batch:
        batch.drop_column("latest_score")
        batch.drop_column("latest_rating_id")
