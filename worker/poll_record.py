"""What one feed poll found, and what it writes: the fetch step and the store writes of
`worker.polling`, kept apart from its orchestration.

- `fetch_feed` fetches and parses one feed and returns a `Polled` value (FETCHED, NOT_MODIFIED,
  UNCHANGED, ERROR or DEFERRED); it writes nothing of the feed's (only the host's politeness
  rows, through `pace`), so the fetches of a batch can run in threads while the feed writes are
  made together afterwards.
- `store_entries` stores a parsed feed's entries once (one transaction per feed with new items).
- `feed_update` is the feed row's new values after a poll (success, error with capped, jittered
  backoff, or rescheduling), and `write_feed_updates` writes a batch of them as a few
  executemany statements in one transaction.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, func, update
from sqlalchemy.engine import Connection, Row

from worker.config import FeedSpec, FetchSpec
from worker.feedparse import FeedEntry, FeedParseError, ParsedFeed, parse_feed
from worker.hosts import HostBusy, Pace
from worker.net import Fetched, Fetcher, FetchError, NotModified
from worker.runtime import Runtime
from worker.schema import EntryState, entries, feeds
from worker.sources import FEED_ACCEPT, read_source
from worker.store import insert_ignore

log = logging.getLogger(__name__)


class PollOutcome(StrEnum):
    """What one poll did."""

    FETCHED = "fetched"
    NOT_MODIFIED = "not-modified"
    UNCHANGED = "unchanged"  # 200 with the body of the last fetch
    ERROR = "error"
    DEFERRED = "deferred"  # host busy: rescheduled a little later
    UNKNOWN = "unknown"  # no such feed (any more)
    SUPERSEDED = "superseded"  # another poll holds or used up the feed's claim: nothing done


@dataclass(frozen=True)
class Polled:
    """One feed's fetch: what was found, and what the feed row needs to record it."""

    outcome: PollOutcome
    conditional: bool  # validators were sent
    got: Fetched | None = None
    parsed: ParsedFeed | None = None
    body_hash: str | None = None
    error: str | None = None
    retry_after: float | None = None  # the server's Retry-After (ERROR) or a busy host's hint (DEFERRED)
    elapsed_s: float = 0.0


def fetch_feed(
    fetcher: Fetcher, row: Row[Any], spec: FeedSpec, fetch: FetchSpec, pace: Pace, now: float
) -> Polled:
    """Fetch `row`'s source (conditionally, except every `full_fetch_every_s`: some servers keep a
    stale ETag) and parse a new body; every failure is a value with a readable reason."""
    conditional = (row.last_full_fetch_at or 0.0) > now - fetch.full_fetch_every_s
    try:
        got = read_source(
            fetcher,
            row.source,
            feed=spec,
            fetch=fetch,
            max_bytes=fetch.feed_max_bytes,
            accept=FEED_ACCEPT,
            etag=row.etag if conditional else None,
            last_modified=row.last_modified if conditional else None,
            pace=pace,
        )
        if isinstance(got, NotModified):
            return Polled(PollOutcome.NOT_MODIFIED, conditional)
        body_hash = hashlib.sha256(got.body).hexdigest()
        if body_hash == row.body_hash:
            return Polled(PollOutcome.UNCHANGED, conditional, got=got)
        parsed = parse_feed(got.body, base_url=got.url, headers=got.headers, max_entries=fetch.max_entries)
    except HostBusy as busy:
        log.info("feed poll deferred", extra={"feed": spec.name, "reason": str(busy)})
        return Polled(PollOutcome.DEFERRED, conditional, retry_after=busy.retry_in)
    except (FetchError, FeedParseError) as exc:
        log.warning("feed poll failed", extra={"feed": spec.name, "reason": exc.reason})
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        return Polled(PollOutcome.ERROR, conditional, error=exc.reason, retry_after=retry_after)
    for warning in parsed.warnings:
        log.info("feed warning", extra={"feed": spec.name, "reason": warning})
    return Polled(PollOutcome.FETCHED, conditional, got=got, parsed=parsed, body_hash=body_hash)


def store_entries(
    rt: Runtime, feed_id: int, found: tuple[FeedEntry, ...], now: float, seen_before: float | None
) -> list[int]:
    """Store the entries not stored before; return the ids of those to process. Entries published
    before `seen_before` (the feed's `backfill` on its first poll; undated ones too) are stored
    `done` without an article: seen, never processed, never alerted."""
    rows: list[dict[str, Any]] = [
        {
            "feed_id": feed_id,
            "key": e.key,
            "link": e.link,
            "canonical_link": e.canonical_link,
            "title": e.title,
            "summary": e.summary,
            "content": e.content,
            "published_at": e.published.timestamp() if e.published else None,
            "seen_at": now,
            "enqueued_at": now,
            "state": EntryState.NEW,
        }
        for e in found
    ]
    if seen_before is not None:
        old = [r for r in rows if r["published_at"] is None or r["published_at"] < seen_before]
        for r in old:
            r.update(state=EntryState.DONE, enqueued_at=None)
        if old:
            log.info("first poll: %d backlog entries recorded as seen without alerting", len(old),
                     extra={"feed_id": feed_id})
    with rt.engine.begin() as conn:
        ids = [insert_ignore(conn, entries, [r], returning=entries.c.id) for r in rows]
    new = [(r["published_at"], i[0]) for i, r in zip(ids, rows, strict=True) if i and r["state"] == "new"]
    # oldest first: a story starts with its earliest report (undated entries last, in feed order)
    return [i for _, i in sorted(new, key=lambda p: (p[0] is None, p[0] or 0.0))]


def feed_update(
    row: Row[Any], spec: FeedSpec, polled: Polled, fetch: FetchSpec, now: float
) -> dict[str, Any]:
    """The feed row's new values after `polled` (every poll ends its leases)."""
    values: dict[str, Any] = {"lease_until": 0.0, "polling_until": 0.0}
    if polled.outcome is PollOutcome.DEFERRED:
        values["next_check_at"] = now + min(max(polled.retry_after or 0.0, 1.0), float(spec.interval))
        return values
    values["last_checked_at"] = now
    if polled.outcome is PollOutcome.ERROR:
        streak = (row.error_streak or 0) + 1
        delay = backoff_delay(spec.interval, streak, fetch.max_backoff_s, random.random())
        if polled.retry_after is not None:
            delay = max(delay, min(polled.retry_after, fetch.max_backoff_s))
        reason = polled.error or "unknown error"
        values.update(error_streak=streak, last_error=reason[:2000], next_check_at=now + delay)
        return values
    ttl = polled.parsed.ttl_seconds if polled.parsed is not None else None
    period = max(spec.interval, min(ttl or 0, fetch.max_backoff_s))
    values.update(
        last_success_at=now,
        error_streak=0,
        last_error=None,
        next_check_at=next_due(row.next_check_at, period, now),
        # the counters `newswatch feeds audit` reads (worker/feed_audit.py)
        polls_added=1,
        not_modified_added=int(polled.outcome is PollOutcome.NOT_MODIFIED),
    )
    if polled.got is not None:
        values.update(etag=polled.got.etag, last_modified=polled.got.last_modified)
    if polled.body_hash is not None and polled.parsed is not None:
        values.update(body_hash=polled.body_hash, hub_url=polled.parsed.hub)
    if not polled.conditional and polled.outcome is not PollOutcome.NOT_MODIFIED:
        values["last_full_fetch_at"] = now
    return values


_ADDED = {"polls_added": feeds.c.polls, "not_modified_added": feeds.c.polls_not_modified}


def write_feed_updates(conn: Connection, updates: dict[int, dict[str, Any]]) -> None:
    """Write `feed_update` values for many feeds: one executemany per set of columns."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for feed_id, values in updates.items():
        shapes.setdefault(tuple(sorted(values)), []).append(
            {"b_id": feed_id, **{f"b_{k}": v for k, v in values.items()}}
        )
    for shape, params in shapes.items():
        assigned: dict[Any, Any] = {
            _ADDED[k] if k in _ADDED else feeds.c[k]: (
                func.coalesce(_ADDED[k], 0) + bindparam(f"b_{k}") if k in _ADDED else bindparam(f"b_{k}")
            )
            for k in shape
        }
        conn.execute(update(feeds).where(feeds.c.id == bindparam("b_id")).values(assigned), params)


CATCH_UP = 0.75  # a feed polled late is next due at least this share of its period after the poll


def next_due(due: float | None, period: float, now: float) -> float:
    """When a feed that was due at `due` and polled at `now` is due again: one `period` after it
    was due, so the wait for the scheduler's tick and the queue does not stretch every interval
    (counted from the poll, a 60 s feed was polled about every 68 s); never sooner than
    `CATCH_UP` of a period after this poll, so a late feed is not polled twice in quick
    succession; one period after this poll when it was forced before it was due."""
    anchor = due if due is not None and 0 < due <= now else now
    return max(anchor + period, now + CATCH_UP * period)


def backoff_delay(interval: float, streak: int, cap: float, jitter: float) -> float:
    """Seconds until the next try after `streak` consecutive errors: the interval doubled per
    error, capped, with jitter in [50 %, 100 %] of that, never below the interval."""
    raw = min(cap, interval * 2.0 ** min(streak, 20))
    return max(float(interval), raw * (0.5 + jitter / 2))
