"""Read a test's SQLite store from outside the processes that write it."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def sqlite_rows(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of `sql` on the store file `db`; empty while the file or its tables do not exist
    yet (the workers create them on start-up)."""
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        conn.close()
