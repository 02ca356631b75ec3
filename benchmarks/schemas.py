"""Throwaway PostgreSQL schemas for the benchmarks: each run measures a store of its own on the
database it is given, and leaves nothing behind unless it is asked to keep it."""

from __future__ import annotations

import uuid

import sqlalchemy


def create_schema(url: str, prefix: str) -> tuple[str, str]:
    """A new, empty schema on ``url``'s database: its name, and a URL whose connections use it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(url)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    finally:
        admin.dispose()
    inside = (
        sqlalchemy.make_url(url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    return schema, inside


def drop_schema(url: str, schema: str) -> None:
    """Drop ``schema`` (made by ``create_schema``) and everything in it."""
    admin = sqlalchemy.create_engine(url)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        admin.dispose()
