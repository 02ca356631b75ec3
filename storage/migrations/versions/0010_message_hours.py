"""message hours: the hourly rollup of group messages the supervisor summary reads; a covering index
for its engagements

``message_hours`` holds, per UTC hour and group, how many messages were stored and how many of them were
residents' confident suggestions and complaints (storage/message_hours.py); from now on the message's
own unit of work adds to it. The hours of the messages already stored are filled here, in one
INSERT … SELECT.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = storage.models.UTCDateTime(timezone=True)

# The start of a message's UTC hour: PostgreSQL truncates in UTC whatever the session's zone; SQLite
# stores UTC as 'YYYY-MM-DD HH:MM:SS.ffffff' text, the format SQLAlchemy binds and compares.
HOUR = {
    "postgresql": "date_trunc('hour', {0}sent_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
    "sqlite": "substr({0}sent_at, 1, 13) || ':00:00.000000'",
}
# A resident's confident suggestion or complaint (storage/message_hours.py, ``_from_messages``).
RAISED = (
    "CASE WHEN {0}intent = '{1}' AND {0}intent_confident AND NOT {0}from_official THEN 1 ELSE 0 END"
)
COLUMNS = "hour, group_id, messages, suggestions, complaints"
ADD = (
    "ON CONFLICT (hour, group_id) DO UPDATE SET messages = message_hours.messages + "
    "excluded.messages, suggestions = message_hours.suggestions + excluded.suggestions, "
    "complaints = message_hours.complaints + excluded.complaints"
)


def _hours_of(rows: str, dialect: str) -> str:
    """SELECT of the hours' counts of the group messages in the table ``rows``, in key order (so two
    statements adding to the same rows take their locks in the same order: one waits, no deadlock)."""
    hour = HOUR[dialect].format("")
    return (
        f"SELECT {hour}, group_id, count(*), sum({RAISED.format('', 'suggestion')}), "
        f"sum({RAISED.format('', 'complaint')}) FROM {rows} WHERE group_id IS NOT NULL "
        f"GROUP BY {hour}, group_id ORDER BY 1, 2"
    )


def upgrade() -> None:
    op.create_table(
        "message_hours",
        sa.Column("hour", UTC_TIME, nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("suggestions", sa.Integer(), nullable=False),
        sa.Column("complaints", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_message_hours_group_id_groups")
        ),
        sa.PrimaryKeyConstraint("hour", "group_id", name=op.f("pk_message_hours")),
        # SQLite keeps the rows in key order, so a period's hours are read in one sweep (with a rowid
        # the trigger's rows lie in arrival order and each is a look-up away from the key's index).
        sqlite_with_rowid=False,
    )
    dialect = op.get_bind().dialect.name
    # The trigger first: on PostgreSQL creating it locks out inserts into messages until this
    # migration commits, so no message is missed or counted twice between the trigger and the fill.
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION message_hours_add() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"INSERT INTO message_hours ({COLUMNS}) {_hours_of('inserted', dialect)} {ADD}; "
            "RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER message_hours_add AFTER INSERT ON messages "
            "REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT "
            "EXECUTE FUNCTION message_hours_add()"
        )
    else:
        values = ", ".join(
            (
                HOUR[dialect].format("new."),
                "new.group_id",
                "1",
                RAISED.format("new.", "suggestion"),
                RAISED.format("new.", "complaint"),
            )
        )
        op.execute(
            "CREATE TRIGGER message_hours_add AFTER INSERT ON messages "
            "WHEN new.group_id IS NOT NULL BEGIN "
            f"INSERT INTO message_hours ({COLUMNS}) VALUES ({values}) {ADD}; END"
        )
    op.execute(f"INSERT INTO message_hours ({COLUMNS}) {_hours_of('messages', dialect)}")
    # The summary groups the period's engagements by official and by group: covering, it reads the
    # index alone (ix_engagements_at was its prefix).
    op.create_index(
        "ix_engagements_window", "engagements", ["at", "official_id", "group_id", "kind"]
    )
    op.drop_index("ix_engagements_at", table_name="engagements")


def downgrade() -> None:
    op.create_index("ix_engagements_at", "engagements", ["at"])
    op.drop_index("ix_engagements_window", table_name="engagements")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER message_hours_add ON messages")
        op.execute("DROP FUNCTION message_hours_add()")
    else:
        op.execute("DROP TRIGGER message_hours_add")
    op.drop_table("message_hours")
