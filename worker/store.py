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
