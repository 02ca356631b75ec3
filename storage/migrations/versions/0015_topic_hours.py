"""topic hours: the hourly rollup of residents' messages per topic, the early warning's baseline

The early warning counts, at every resident's message with a topic, that topic's messages in the
``[opinion] baseline_days`` before the window (its usual rate). Read from the messages, that count
grew with the store: a busy topic's week was thousands of index entries read at each of its
messages. ``topic_hours`` keeps, per topic and UTC hour, how many residents' messages it had; the
baseline reads the lookback's whole hours from it and only the ragged ends from the messages
(storage/warnings.py). Kept by the database in the transaction that inserts the messages (a trigger,
as ``message_hours`` is, migration 0010); the hours of the messages already stored are filled here.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = storage.models.UTCDateTime(timezone=True)

# The start of a message's UTC hour, as in migration 0010.
HOUR = {
    "postgresql": "date_trunc('hour', {0}sent_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    "sqlite": "substr({0}sent_at, 1, 13) || ':00:00.000000'",
}
# A resident's message about a topic (what the early warning counts: storage/warnings.py, _burst).
COUNTED = "{0}topic_key IS NOT NULL AND NOT {0}from_official"
ADD = (
    "ON CONFLICT (topic_key, hour) DO UPDATE SET messages = topic_hours.messages + excluded.messages"
)


def _hours_of(rows: str, dialect: str) -> str:
    """SELECT of the topics' hours counts of the messages in the table ``rows``, in key order (two
    statements adding to the same rows take their locks in the same order)."""
    hour = HOUR[dialect].format("")
    return (
        f"SELECT topic_key, {hour}, count(*) FROM {rows} WHERE {COUNTED.format('')} "
        f"GROUP BY topic_key, {hour} ORDER BY 1, 2"
    )


def upgrade() -> None:
    op.create_table(
        "topic_hours",
        sa.Column("topic_key", sa.String(length=200), nullable=False),
        sa.Column("hour", UTC_TIME, nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("topic_key", "hour", name=op.f("pk_topic_hours")),
        sqlite_with_rowid=False,
    )
    dialect = op.get_bind().dialect.name
    # The trigger first: on PostgreSQL creating it locks out inserts into messages until this
    # migration commits, so no message is missed or counted twice between the trigger and the fill.
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION topic_hours_add() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"INSERT INTO topic_hours (topic_key, hour, messages) {_hours_of('inserted', dialect)} "
            f"{ADD}; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER topic_hours_add AFTER INSERT ON messages "
            "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
            "EXECUTE FUNCTION topic_hours_add()"
        )
    else:
        op.execute(
            "CREATE TRIGGER topic_hours_add AFTER INSERT ON messages "
            f"WHEN {COUNTED.format('new.')} BEGIN "
            "INSERT INTO topic_hours (topic_key, hour, messages) "
            f"VALUES (new.topic_key, {HOUR[dialect].format('new.')}, 1) {ADD}; END"
        )
    op.execute(f"INSERT INTO topic_hours (topic_key, hour, messages) {_hours_of('messages', dialect)}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER topic_hours_add ON messages")
        op.execute("DROP FUNCTION topic_hours_add()")
    else:
        op.execute("DROP TRIGGER topic_hours_add")
    op.drop_table("topic_hours")
