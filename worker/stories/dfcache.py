"""Document frequencies over the IDF window, read through a bounded in-process cache.

`story_df (term, day) → n` changes with every assignment, so a cached sum is only valid while no
one else has written. The cache proves that cheaply instead of trusting a time-to-live: it
remembers the member this process wrote last, and each lookup first reads the store's newest
member (one primary-key probe, inside the assignment lock). When that is not the one it wrote —
another worker assigned an article, a transaction of ours rolled back, the store was emptied — the
whole cache is dropped and the lookup reads the store, so the sums are always the store's own.
While it holds, only terms the cache has not seen are read, and this process's own writes are
added to the cached sums (`record`).

Sums are per window (`first`..`last` day): an article of another day starts a new window, so no
count of one day can be served for another. The cache is bounded (`max_terms`; when full it starts
over) and belongs to one engine (`DfCaches`), so two stores never share counts.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable

from sqlalchemy.engine import Connection, Engine

from worker.stories.index import placeholders, run

DOCS = ""  # the document-count row of story_df
_NEWEST_SQL = "SELECT id, article_key FROM story_members ORDER BY id DESC LIMIT 1"
_BUCKET = 16  # IN lists are padded to a multiple of this, so the driver reuses prepared statements


class DfCache:
    """Window sums of document frequencies, valid while this process is the store's only writer."""

    def __init__(self, max_terms: int = 100_000) -> None:
        self.max_terms = max_terms
        self._lock = threading.Lock()
        self._window: tuple[int, int] | None = None
        self._sums: dict[str, int] = {}
        self._newest: tuple[int, str] | None = None  # the member this process wrote last
        self.hits = self.misses = 0

    def lookup(self, conn: Connection, terms: Iterable[str], first: int, last: int) -> dict[str, int]:
        """Per term (and `DOCS`), its document count over days `first`..`last` (0 when unseen)."""
        wanted = list(dict.fromkeys([*terms, DOCS]))
        rows = run(conn, _NEWEST_SQL)
        newest = rows[0] if rows else None
        with self._lock:
            current = (int(newest[0]), str(newest[1])) if newest is not None else None
            if current is None or current != self._newest or self._window != (first, last):
                self._sums, self._window, self._newest = {}, (first, last), None
            known = {t: self._sums[t] for t in wanted if t in self._sums}
        missing = [t for t in wanted if t not in known]
        self.hits += len(known)
        self.misses += len(missing)
        if missing:
            found = read_window(conn, missing, first, last)
            fresh = {t: found.get(t, 0) for t in missing}
            with self._lock:
                if len(self._sums) + len(fresh) > self.max_terms:
                    self._sums = {}
                self._sums.update(fresh)
            known |= fresh
        return known

    def record(self, terms: Iterable[str], day: int, member: tuple[int, str]) -> None:
        """Count one article's `terms` (with `DOCS`) on `day`, as this process has just written
        them in the transaction that also wrote `member` (id, article key), now the newest."""
        with self._lock:
            window = self._window
            if window is None or not window[0] <= day <= window[1]:
                self._sums, self._window, self._newest = {}, None, None
                return
            sums = self._sums
            for term in dict.fromkeys([*terms, DOCS]):
                if term in sums:
                    sums[term] += 1
            self._newest = member


def read_window(conn: Connection, terms: list[str], first: int, last: int) -> dict[str, int]:
    """The store's document counts of `terms` over days `first`..`last` (absent terms left out)."""
    padded = terms + [terms[-1]] * (-len(terms) % _BUCKET)  # repeats in an IN list change nothing
    sql = (f"SELECT term, SUM(n) FROM story_df WHERE term IN ({placeholders(len(padded))})"
           " AND day >= ? AND day <= ? GROUP BY term")
    return {t: int(n) for t, n in run(conn, sql, (*padded, first, last))}


class DfCaches:
    """One `DfCache` per engine (weakly held: a disposed engine's cache goes with it)."""

    def __init__(self, max_terms: int = 100_000) -> None:
        self.max_terms = max_terms
        self._lock = threading.Lock()
        self._by_engine: weakref.WeakKeyDictionary[Engine, DfCache] = weakref.WeakKeyDictionary()

    def for_engine(self, engine: Engine) -> DfCache:
        """The cache of `engine`'s store."""
        with self._lock:
            cache = self._by_engine.get(engine)
            if cache is None:
                cache = self._by_engine[engine] = DfCache(self.max_terms)
            return cache
