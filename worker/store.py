"""Small helpers over the SQL store that must behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


def insert_ignore(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, returning: Column[Any]
) -> list[Any]:
    """Insert `rows`, silently skipping those that violate a unique constraint.

    Returns `returning` for the rows actually inserted, so a caller knows exactly what is new even
    when another worker inserted the same rows a moment earlier.
    """
    if not rows:
        return []
    dialect = conn.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    out: list[Any] = []
    for row in rows:  # one statement per row: RETURNING with ON CONFLICT is per-row on SQLite
        stmt = insert(table).values(**row).on_conflict_do_nothing().returning(returning)
        out.extend(conn.execute(stmt).scalars().all())
    return out


def insert_ignore_rows(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, returning: Sequence[Column[Any]]
) -> list[tuple[Any, ...]]:
    """Insert `rows` in one statement, skipping those that violate a unique constraint; the
    `returning` columns of the rows inserted, in no particular order (return a key column to tell
    them apart)."""
    if not rows:
        return []
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(table).values(list(rows)).on_conflict_do_nothing().returning(*returning)
    return [tuple(r) for r in conn.execute(stmt).all()]
