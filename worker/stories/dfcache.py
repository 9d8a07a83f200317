"""Document frequencies over the IDF window: an append-only log folded in batches, read through a
bounded in-process cache.

Each assignment appends one `story_df_log` row (its day and its terms, `DOCS` included) instead of
upserting one `story_df (term, day)` row per term: ~75 random B-tree pages per article become one
appended row. Once `FOLD_ROWS` rows are waiting, an assignment folds them (`fold_log`): it adds
their counts to `story_df`, deletes them and moves the fold mark (`story_df_folds`), all in its own
transaction under the assignment lock, so a fold is a prefix of the log and a count is always in
exactly one place. A term's count is therefore `story_df`'s sum plus its unfolded log rows.

Log rows are immutable and written under the assignment lock, so ids grow in commit order and a
reader that has seen every row up to id N needs only the rows after N to be current. The cache
keeps, per window (`first`..`last` day): the sums of the terms it was asked for, counted up to the
newest row it read, and the unfolded rows it read with their counts (to answer a term it has not
seen). Each lookup reads the newest id and the fold mark (one statement) and then only the new rows,
so it stays current across workers without being dropped. It starts over when it cannot be sure:
another worker folded rows it had not read, the store is not the one it read (ids or mark went
back), or the window changed. It never records a write of its own transaction (that might roll
back): its own row is read back, committed, by the next lookup.

The cache is bounded (`max_terms`; when full it starts over) and belongs to one engine (`DfCaches`),
so two stores never share counts.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections import Counter
from collections.abc import Iterable

from sqlalchemy.engine import Connection, Engine

from worker.stories.index import placeholders, run

DOCS = ""  # the document-count term: every log row lists it once
FOLD_ROWS = 128  # unfolded log rows that make the next assignment fold them
_BUCKET = 16  # IN lists are padded to a multiple of this, so the driver reuses prepared statements
_STATE_SQL = ("SELECT (SELECT MAX(id) FROM story_df_log),"
              " (SELECT through FROM story_df_folds WHERE id = 1)")
_ROWS_SQL = "SELECT id, day, terms FROM story_df_log WHERE id > ? AND id <= ? ORDER BY id"
_LOG_SQL = "INSERT INTO story_df_log (day, terms) VALUES (?, ?)"
_ADD_SQL = ("INSERT INTO story_df (term, day, n) VALUES (?, ?, ?)"
            " ON CONFLICT (term, day) DO UPDATE SET n = story_df.n + excluded.n")
_DROP_SQL = "DELETE FROM story_df_log WHERE id > ? AND id <= ?"
_MARK_SQL = ("INSERT INTO story_df_folds (id, through) VALUES (1, ?)"
             " ON CONFLICT (id) DO UPDATE SET through = excluded.through")


class DfCache:
    """Window sums of document frequencies, kept current from the log (see the module docstring)."""

    def __init__(self, max_terms: int = 100_000) -> None:
        self.max_terms = max_terms
        self._lock = threading.Lock()
        # (first, last) day → term → count over those days, up to log row `_through`
        self._sums: dict[tuple[int, int], dict[str, int]] = {}
        self._through = 0  # the newest log row counted
        self._folded = 0  # the fold mark as last read
        self._tail: dict[int, tuple[int, list[str]]] = {}  # unfolded rows read: id → (day, terms)
        self._tail_days: dict[int, Counter[str]] = {}  # their counts per day
        self.hits = self.misses = 0

    def lookup(self, conn: Connection, terms: Iterable[str], first: int, last: int) -> dict[str, int]:
        """Per term (and `DOCS`), its document count over days `first`..`last` (0 when unseen)."""
        wanted = list(dict.fromkeys([*terms, DOCS]))
        newest, folded = run(conn, _STATE_SQL)[0]
        newest, folded = int(newest or 0), int(folded or 0)
        with self._lock:
            if folded > self._through or folded < self._folded or newest < self._through:
                self._start_over(folded)
            if newest > self._through:
                self._read(run(conn, _ROWS_SQL, (self._through, newest)))
            if folded > self._folded:
                self._forget_folded(folded)
            sums = self._sums.setdefault((first, last), {})
            known = {t: sums[t] for t in wanted if t in sums}
            missing = [t for t in wanted if t not in known]
            self.hits += len(known)
            self.misses += len(missing)
            if missing:
                found = _read_folded(conn, missing, first, last)
                days = [c for d, c in self._tail_days.items() if first <= d <= last]
                fresh = {t: found.get(t, 0) + sum(c.get(t, 0) for c in days) for t in missing}
                if sum(map(len, self._sums.values())) + len(fresh) > self.max_terms:
                    self._sums = {(first, last): (sums := {})}
                sums.update(fresh)
                known |= fresh
        return known

    def fold_range(self) -> tuple[int, int] | None:
        """The unfolded rows of the last lookup, `(after, through)`, once there are `FOLD_ROWS`."""
        with self._lock:
            return (self._folded, self._through) if len(self._tail) >= FOLD_ROWS else None

    def _start_over(self, folded: int) -> None:
        self._sums, self._through, self._folded, self._tail, self._tail_days = {}, folded, folded, {}, {}

    def _read(self, rows: list[tuple[int, int, str]]) -> None:
        for row_id, day, raw in rows:
            row_terms: list[str] = json.loads(raw)
            self._tail[int(row_id)] = (day, row_terms)
            self._tail_days.setdefault(day, Counter()).update(row_terms)
            row_set = frozenset(row_terms)
            for (first, last), sums in self._sums.items():
                if first <= day <= last:
                    for term in sums.keys() & row_set:
                        sums[term] += 1
            self._through = max(self._through, int(row_id))

    def _forget_folded(self, folded: int) -> None:
        # folded rows moved into story_df: the sums stay, the tail (for terms not yet asked) shrinks
        self._tail = {i: row for i, row in self._tail.items() if i > folded}
        self._tail_days = {}
        for day, row_terms in self._tail.values():
            self._tail_days.setdefault(day, Counter()).update(row_terms)
        self._folded = folded


def log_terms(conn: Connection, terms: Iterable[str], day: int) -> None:
    """Count one article's `terms` (and `DOCS`) on `day`: one appended log row."""
    counted = list(dict.fromkeys([*terms, DOCS]))
    run(conn, _LOG_SQL, (day, json.dumps(counted, ensure_ascii=False, separators=(",", ":"))))


def fold_log(conn: Connection, after: int, through: int) -> None:
    """Move the log rows `after` < id <= `through` into `story_df` and the fold mark to `through`,
    in `conn`'s transaction (under the assignment lock: see the module docstring)."""
    rows = run(conn, _ROWS_SQL, (after, through))
    counts: Counter[tuple[str, int]] = Counter()
    for _, day, raw in rows:
        counts.update((term, day) for term in json.loads(raw))
    if counts:  # in key order: neighbouring rows share B-tree pages
        run(conn, _ADD_SQL, [(t, d, n) for (t, d), n in sorted(counts.items())], many=True)
    run(conn, _DROP_SQL, (after, through))
    run(conn, _MARK_SQL, (through,))


def _read_folded(conn: Connection, terms: list[str], first: int, last: int) -> dict[str, int]:
    padded = terms + [terms[-1]] * (-len(terms) % _BUCKET)  # repeats in an IN list change nothing
    sql = (f"SELECT term, SUM(n) FROM story_df WHERE term IN ({placeholders(len(padded))})"
           " AND day >= ? AND day <= ? GROUP BY term")
    return {t: int(n) for t, n in run(conn, sql, (*padded, first, last))}


def read_window(conn: Connection, terms: list[str], first: int, last: int) -> dict[str, int]:
    """The store's document counts of `terms` over days `first`..`last`, folded and unfolded
    (absent terms left out): the reference the cache must equal."""
    counts = Counter(_read_folded(conn, terms, first, last))
    wanted = set(terms)
    for _, day, raw in run(conn, _ROWS_SQL, (-1, 2**62)):
        if first <= day <= last:
            counts.update(t for t in json.loads(raw) if t in wanted)
    return dict(counts)


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
