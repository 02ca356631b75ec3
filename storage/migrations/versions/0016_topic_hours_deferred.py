"""topic hours deferred: on PostgreSQL a unit of work adds its messages to ``topic_hours`` once, sorted

Migration 0015's trigger added each inserted message to its topic's hour at once, so a batch held the
row of every topic hour it touched until it committed, up to 0.2 s later, and took those rows in the
order its messages came. Two workers whose batches both had messages about a city-wide topic (停水)
waited for each other's whole batch, or deadlocked when they took two topics' rows in opposite orders:
two workers ingested at about half the rate of one. Now the trigger does nothing in a transaction that
sets ``minyi.defer_topic_hours`` (``storage.topic_rollup``): such a unit adds its own messages to the
rollup in one statement just before it commits, in key order, so its rows are held for the commit
alone and every unit takes them in the same order. Any other insert (a stand-alone write, a bulk load)
is counted by the trigger as before. SQLite has one writer: its trigger is unchanged.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migration 0015's function body (migrations are kept frozen: its SQL is repeated here).
ADD = (
    "INSERT INTO topic_hours (topic_key, hour, messages) SELECT topic_key, "
    "date_trunc('hour', sent_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*) FROM inserted "
    "WHERE topic_key IS NOT NULL AND NOT from_official "
    "GROUP BY topic_key, date_trunc('hour', sent_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
    "ORDER BY 1, 2 "
    "ON CONFLICT (topic_key, hour) DO UPDATE SET messages = topic_hours.messages + excluded.messages"
)


def _function(deferrable: bool) -> str:
    skip = (
        "IF current_setting('minyi.defer_topic_hours', true) = 'on' THEN RETURN NULL; END IF; "
        if deferrable
        else ""
    )
    return (
        "CREATE OR REPLACE FUNCTION topic_hours_add() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"{skip}{ADD}; RETURN NULL; END $$"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function(deferrable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function(deferrable=False))
