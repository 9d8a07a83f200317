"""Store reads of one assignment: the candidate search and the stored vectors' codec.

Every statement is hand-written and sent straight to the driver's cursor of the caller's connection,
inside its transaction (`?` placeholders, rewritten for the driver's own style; errors wrapped as
SQLAlchemy's): at these sizes SQLAlchemy's per-statement work costs more than SQLite's.

The search is one statement: per search key its newest `postings_per_key` postings inside the
window (an index range scan each over `story_keys (key, at, member)`), counted per member, the
`max_candidates` members sharing the most keys kept (ties: newest member), and their stored
vectors read from `story_members` for the stories that started inside the window.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from worker.stories.scoring import Member, Vector
from worker.stories.settings import StoriesSpec

TERMS_STORED = 48  # heaviest terms kept in a member's stored vector
_DECODED_MAX = 2048  # decoded vectors kept in memory (keyed by their stored text, so never stale)

_SEARCH_SQL: dict[int, str] = {}


def driver(conn: Connection, sql: str) -> str:
    """`sql` written with `?` placeholders, in the driver's own parameter style."""
    return sql if conn.dialect.paramstyle == "qmark" else sql.replace("?", "%s")


def run(conn: Connection, sql: str, params: Sequence[Any] = (), *, many: bool = False) -> list[Any]:
    """Execute `sql` (`?` placeholders) on `conn`'s own DB-API connection, in its open transaction
    (the caller has begun it: the SQLite write lock is taken by SQLAlchemy's `begin`); the rows
    it returns, if any. `many`: `params` is a sequence of rows (executemany)."""
    statement = driver(conn, sql)
    cursor = conn.connection.cursor()
    try:
        if many:
            cursor.executemany(statement, params)
        else:
            cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description is not None else []
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(statement, params, exc, conn.dialect.loaded_dbapi.Error,
                                  dialect=conn.dialect) from exc
    finally:
        cursor.close()


def placeholders(n: int) -> str:
    """`?, ?, …` for an IN list of n values."""
    return ", ".join("?" * n)


def _search_sql(n: int) -> str:
    """The search statement for n keys, `?` placeholders (cached per key count)."""
    cached = _SEARCH_SQL.get(n)
    if cached is None:
        parts = [f'SELECT member_id FROM (SELECT member_id FROM story_keys WHERE "key" = ? AND at >= ?'
                 f" ORDER BY at DESC LIMIT ?) AS q{i}" for i in range(n)]
        cached = (
            f"WITH hits AS ({' UNION ALL '.join(parts)}),"
            " top AS (SELECT member_id, COUNT(*) AS shared FROM hits GROUP BY member_id"
            " ORDER BY shared DESC, member_id DESC LIMIT ?)"
            " SELECT m.story_id, m.article_key, m.vector FROM top"
            " JOIN story_members m ON m.id = top.member_id JOIN stories s ON s.id = m.story_id"
            " WHERE s.first_seen_at >= ? ORDER BY m.id")
        _SEARCH_SQL[n] = cached
    return cached


def candidates(conn: Connection, keys: list[str], since: float, s: StoriesSpec) -> list[Member]:
    """Members sharing the most search keys inside the window, in member order. Each key reads at
    most `postings_per_key` of its newest postings, so a key that many recent articles share
    costs the same as a rare one, and the store's size does not matter."""
    if not keys:
        return []
    params: list[object] = []
    for key in keys:
        params += (key, since, s.postings_per_key)
    params += (s.max_candidates, since)
    rows = run(conn, _search_sql(len(keys)), params)
    return [Member(story_id, key, decode_vector(raw)) for story_id, key, raw in rows]


def encode_vector(vector: Vector) -> str:
    """The stored form of a member's vector: its `TERMS_STORED` heaviest terms, norms of the full
    vector, title words and signature (compact JSON)."""
    # dates always (a conflict needs them all), then the heaviest terms
    stored = sorted(((t, w) for t, w in vector.weights.items() if w > 0),
                    key=lambda tw: (not tw[0].startswith("d:"), -tw[1], tw[0]))
    return json.dumps({"l": vector.lang, "v": {t: round(w, 4) for t, w in stored[:TERMS_STORED]},
                       "n": vector.norm, "x": vector.cross_norm, "h": sorted(vector.title),
                       "s": vector.signature, "q": sorted(vector.anchors), "o": vector.source},
                      ensure_ascii=False, separators=(",", ":"))


_decoded: OrderedDict[str, Vector] = OrderedDict()
_decoded_lock = threading.Lock()


def decode_vector(raw: str) -> Vector:
    """A stored vector (see `encode_vector`). Recently decoded ones come from a bounded in-process
    memo keyed by the stored text itself, so it cannot return another text's vector."""
    with _decoded_lock:
        hit = _decoded.get(raw)
        if hit is not None:
            _decoded.move_to_end(raw)
            return hit
    d = json.loads(raw)
    vector = Vector(d["l"], d["v"], d["n"], d["x"], frozenset(d["h"]), tuple(d["s"]), frozenset(d["q"]),
                    d["o"])
    with _decoded_lock:
        _decoded[raw] = vector
        if len(_decoded) > _DECODED_MAX:
            _decoded.popitem(last=False)
    return vector
