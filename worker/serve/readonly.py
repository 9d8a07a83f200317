"""A store engine that cannot write: the only kind `newswatch serve` and `newswatch health` use.

SQLite is opened through a `mode=ro` URI (the file is never created, no journal mode is set);
PostgreSQL sessions are switched to read-only transactions on connect, so any INSERT, UPDATE or
DDL fails with "cannot execute ... in a read-only transaction". No tables are created: a store
that has no table yet reads as empty (see `worker.serve.queries`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url


def readonly_url(url: str) -> str:
    """`url`, turned into a read-only SQLite URI for SQLite files (other URLs unchanged)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return url
    if not parsed.database or parsed.database == ":memory:":
        raise ValueError("a read-only view needs an SQLite file, not an in-memory database")
    return f"sqlite:///file:{quote(parsed.database)}?mode=ro&uri=true"


def readonly_engine(url: str) -> Engine:
    """An engine on the store at `url` through which every write fails."""
    engine = create_engine(
        readonly_url(url),
        connect_args={"timeout": 10.0} if url.startswith("sqlite") else {},
        pool_pre_ping=not url.startswith("sqlite"),
    )
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgres_read_only)
    return engine


def _postgres_read_only(dbapi_conn: Any, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    cur.close()
    dbapi_conn.commit()  # a SET inside a transaction that is rolled back would be undone
