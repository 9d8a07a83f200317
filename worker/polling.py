"""Poll stage: claim due feeds, fetch one feed politely, store its new entries once.

Contracts:
- `sync_feeds` makes the `feeds` table mirror the configuration (by name).
- `claim_due` hands each due feed to exactly one caller per interval, whatever the number
  of beat processes (a conditional UPDATE on `lease_until`), as a numbered `FeedClaim` that the
  poll message carries. When a claim's lease (`service.lease_s`, the task time limit) runs out
  before its poll starts (a backlog in the queue), the next tick claims the feed again under a
  new number.
- `poll_feed` starts only with a conditional UPDATE that no other poll of the feed can pass at
  the same time: no poll of the feed is running (`polling_until`), and the message's claim is
  the latest one or the feed is still due. Starting consumes the claim, so every other message
  queued for the feed (older claims, duplicates) drops out as `superseded` once the feed is
  polled: one fetch per feed per interval whatever the queue wait. `poll_feed` returns the ids
  of entries it stored for the first time (on a feed's first poll, entries older than its
  `backfill` are stored as seen, not returned); running it twice stores nothing twice. Errors are
  recorded on the feed with a readable reason and a capped, jittered backoff; a feed is never
  disabled.
- Every request holds a slot of the host it contacts, redirect hops included (`worker.hosts`),
  and the host's back-off after an article page's 429/503 applies: when a host is busy beyond a short
  wait the poll is not an error — the feed is simply rescheduled a little later via
  `next_check_at`, so no worker sleeps long and no long Celery countdown exists.
- After every poll the feed's health is observed (`worker.health`): at most one operator notice
  per failing/silent episode and one on recovery.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Row

from worker.config import FeedSpec, backfill_seconds
from worker.feedparse import FeedEntry, FeedParseError, parse_feed
from worker.health import observe
from worker.hosts import HostBusy, host_pace, limits_for
from worker.net import FetchError, NotModified
from worker.runtime import Runtime
from worker.schema import EntryState, entries, feeds
from worker.sources import FEED_ACCEPT, read_source
from worker.store import insert_ignore

log = logging.getLogger(__name__)

BACKLOG_ENTRIES = 20  # a breaking story adds a handful of items to a feed between two polls
POLL_HOST_WAIT_S = 2.0  # a poll waits this long for a busy host, then is rescheduled instead


class PollOutcome(StrEnum):
    """What one poll did."""

    FETCHED = "fetched"
    NOT_MODIFIED = "not-modified"
    UNCHANGED = "unchanged"  # 200 with the body of the last fetch
    ERROR = "error"
    DEFERRED = "deferred"  # host busy: rescheduled a little later
    UNKNOWN = "unknown"  # no such feed (any more)
    SUPERSEDED = "superseded"  # another poll holds or used up the feed's claim: nothing done


class FeedClaim(NamedTuple):
    """A feed handed out for polling: `claim` is its number, carried by the poll message."""

    feed_id: int
    claim: int


@dataclass(frozen=True)
class PollResult:
    """What one poll did."""

    feed: str
    outcome: PollOutcome
    new_entry_ids: tuple[int, ...] = ()
    error: str | None = None

    @property
    def backlog(self) -> bool:
        """Whether the new entries are a backlog, to be processed after fresh ones: more than one
        poll's worth of news (`BACKLOG_ENTRIES`), as from a new feed or one back from an outage."""
        return len(self.new_entry_ids) > BACKLOG_ENTRIES


def sync_feeds(rt: Runtime) -> None:
    """Insert configured feeds that the store does not know yet and refresh their sources."""
    with rt.engine.begin() as conn:
        known = {row.name: row for row in conn.execute(select(feeds.c.name, feeds.c.source))}
        new = [
            {"name": spec.name, "source": spec.source, "next_check_at": 0.0}
            for spec in rt.settings.feeds
            if spec.name not in known
        ]
        insert_ignore(conn, feeds, new, returning=feeds.c.id)  # processes starting together race here
        for spec in rt.settings.feeds:
            if spec.name in known and known[spec.name].source != spec.source:
                conn.execute(
                    update(feeds)
                    .where(feeds.c.name == spec.name)
                    .values(source=spec.source, etag=None, last_modified=None, body_hash=None)
                )


def claim_due(rt: Runtime, *, force: bool = False) -> list[FeedClaim]:
    """Claim every configured feed whose next check is due (all of them with `force`).

    One conditional UPDATE … RETURNING for all of them (not one round trip per feed: at 10,000
    feeds a tick claims hundreds): a row another beat has just claimed fails the re-checked
    `lease_until` condition (PostgreSQL re-evaluates it on the updated row; SQLite serialises
    writers), so each due feed is still handed to exactly one caller."""
    now = rt.clock()
    names = [f.name for f in rt.settings.feeds]
    cond = [feeds.c.name.in_(names), feeds.c.lease_until <= now]
    if not force:
        cond.append(feeds.c.next_check_at <= now)
    with rt.engine.begin() as conn:
        won = conn.execute(
            update(feeds)
            .where(*cond)
            .values(lease_until=now + rt.settings.service.lease_s, claim=func.coalesce(feeds.c.claim, 0) + 1)
            .returning(feeds.c.id, feeds.c.claim)
        ).all()
    return sorted(FeedClaim(int(row.id), int(row.claim)) for row in won)


def claim_due_feeds(rt: Runtime, *, force: bool = False) -> list[int]:
    """The ids of the feeds `claim_due` claimed (for in-process callers that poll at once)."""
    return [c.feed_id for c in claim_due(rt, force=force)]


def poll_feed(rt: Runtime, feed_id: int, claim: int | None = None) -> PollResult:
    """Fetch and parse one feed; store new entries; schedule the next check; observe health.

    `claim` is the number from `claim_due`; None (an in-process caller that has just claimed)
    skips the claim check but not the one-poll-at-a-time check."""
    with rt.engine.connect() as conn:
        row = conn.execute(select(feeds).where(feeds.c.id == feed_id)).one_or_none()
    spec = rt.feed_spec(row.name) if row is not None else None
    if row is None or spec is None:
        return PollResult(feed=str(feed_id), outcome=PollOutcome.UNKNOWN)
    if not _start(rt, feed_id, claim):
        log.info("poll dropped: claim %s of feed %s is superseded", claim, spec.name)
        return PollResult(feed=spec.name, outcome=PollOutcome.SUPERSEDED)
    result = _poll(rt, row, spec)
    if result.outcome in (PollOutcome.DEFERRED, PollOutcome.UNKNOWN):
        return result
    observe(rt, feed_id, new_entries=len(result.new_entry_ids))
    return result


def _start(rt: Runtime, feed_id: int, claim: int | None) -> bool:
    """Take the feed's running-poll lease if this poll may run (see the module docstring)."""
    now = rt.clock()
    cond = [feeds.c.id == feed_id, func.coalesce(feeds.c.polling_until, 0.0) <= now]
    if claim is not None:
        cond.append(or_(feeds.c.claim == claim, feeds.c.next_check_at <= now))
    with rt.engine.begin() as conn:
        won: int = conn.execute(
            update(feeds)
            .where(*cond)
            .values(
                polling_until=now + rt.settings.service.lease_s,
                lease_until=now + rt.settings.service.lease_s,
                claim=func.coalesce(feeds.c.claim, 0) + 1,
            )
        ).rowcount
    return won == 1


def _poll(rt: Runtime, row: Row[Any], spec: FeedSpec) -> PollResult:
    feed_id = row.id
    now = rt.clock()
    # some servers keep a stale ETag: fetch unconditionally now and then
    conditional = (row.last_full_fetch_at or 0.0) > now - rt.settings.fetch.full_fetch_every_s
    try:
        got = read_source(
            rt.fetcher,
            row.source,
            feed=spec,
            fetch=rt.settings.fetch,
            max_bytes=rt.settings.fetch.feed_max_bytes,
            accept=FEED_ACCEPT,
            etag=row.etag if conditional else None,
            last_modified=row.last_modified if conditional else None,
            pace=host_pace(rt.engine, limits_for(rt.settings.fetch), wait_s=POLL_HOST_WAIT_S),
        )
        if isinstance(got, NotModified):
            _record_success(rt, feed_id, spec, now, full=False, not_modified=True)
            return PollResult(feed=spec.name, outcome=PollOutcome.NOT_MODIFIED)
        body_hash = hashlib.sha256(got.body).hexdigest()
        if body_hash == row.body_hash:
            _record_success(rt, feed_id, spec, now, full=not conditional, etag=got.etag, lm=got.last_modified)
            return PollResult(feed=spec.name, outcome=PollOutcome.UNCHANGED)
        parsed = parse_feed(
            got.body, base_url=got.url, headers=got.headers, max_entries=rt.settings.fetch.max_entries
        )
    except HostBusy as busy:
        _reschedule(rt, feed_id, now + min(max(busy.retry_in, 1.0), float(spec.interval)))
        log.info("feed poll deferred", extra={"feed": spec.name, "reason": str(busy)})
        return PollResult(feed=spec.name, outcome=PollOutcome.DEFERRED)
    except (FetchError, FeedParseError) as exc:
        retry_after = exc.retry_after if isinstance(exc, FetchError) else None
        _record_error(rt, feed_id, spec, now, exc.reason, retry_after)
        log.warning("feed poll failed", extra={"feed": spec.name, "reason": exc.reason})
        return PollResult(feed=spec.name, outcome=PollOutcome.ERROR, error=exc.reason)
    for warning in parsed.warnings:
        log.info("feed warning", extra={"feed": spec.name, "reason": warning})
    backlog = backfill_seconds(spec.backfill) if row.last_success_at is None else None
    new_ids = _store_entries(rt, feed_id, parsed.entries, now, None if backlog is None else now - backlog)
    _record_success(
        rt,
        feed_id,
        spec,
        now,
        full=not conditional,
        etag=got.etag,
        lm=got.last_modified,
        body_hash=body_hash,
        ttl=parsed.ttl_seconds,
        hub=parsed.hub,
    )
    return PollResult(feed=spec.name, outcome=PollOutcome.FETCHED, new_entry_ids=tuple(new_ids))


def _reschedule(rt: Runtime, feed_id: int, at: float) -> None:
    with rt.engine.begin() as conn:
        conn.execute(
            update(feeds)
            .where(feeds.c.id == feed_id)
            .values(lease_until=0.0, polling_until=0.0, next_check_at=at)
        )


def _store_entries(
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


def _record_success(
    rt: Runtime,
    feed_id: int,
    spec: FeedSpec,
    now: float,
    *,
    full: bool,
    etag: str | None = None,
    lm: str | None = None,
    body_hash: str | None = None,
    ttl: int | None = None,
    hub: str | None = None,
    not_modified: bool = False,
) -> None:
    """Record a successful poll: `not_modified` for a 304; `body_hash` (with `hub`, the parsed
    feed's WebSub hub) when a new body was parsed."""
    values: dict[str, object] = {
        "last_checked_at": now,
        "last_success_at": now,
        "error_streak": 0,
        "last_error": None,
        "lease_until": 0.0,
        "polling_until": 0.0,
        "next_check_at": now + max(spec.interval, min(ttl or 0, rt.settings.fetch.max_backoff_s)),
        # the counters `newswatch feeds audit` reads (worker/feed_audit.py)
        "polls": func.coalesce(feeds.c.polls, 0) + 1,
        "polls_not_modified": func.coalesce(feeds.c.polls_not_modified, 0) + int(not_modified),
    }
    if etag is not None or lm is not None or body_hash is not None:
        values.update(etag=etag, last_modified=lm)
    if body_hash is not None:
        values["body_hash"] = body_hash
        values["hub_url"] = hub
    if full:
        values["last_full_fetch_at"] = now
    with rt.engine.begin() as conn:
        conn.execute(update(feeds).where(feeds.c.id == feed_id).values(**values))


def _record_error(
    rt: Runtime, feed_id: int, spec: FeedSpec, now: float, reason: str, retry_after: float | None
) -> None:
    with rt.engine.begin() as conn:
        streak = conn.execute(select(feeds.c.error_streak).where(feeds.c.id == feed_id)).scalar_one() + 1
        delay = backoff_delay(spec.interval, streak, rt.settings.fetch.max_backoff_s, random.random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, rt.settings.fetch.max_backoff_s))
        conn.execute(
            update(feeds)
            .where(feeds.c.id == feed_id)
            .values(
                last_checked_at=now,
                error_streak=streak,
                last_error=reason[:2000],
                lease_until=0.0,
                polling_until=0.0,
                next_check_at=now + delay,
            )
        )


def backoff_delay(interval: float, streak: int, cap: float, jitter: float) -> float:
    """Seconds until the next try after `streak` consecutive errors: the interval doubled per
    error, capped, with jitter in [50 %, 100 %] of that, never below the interval."""
    raw = min(cap, interval * 2.0 ** min(streak, 20))
    return max(float(interval), raw * (0.5 + jitter / 2))


def stale_new_entries(rt: Runtime, older_than_s: float) -> list[int]:
    """Entries stored but not processed whose enqueue is older than `older_than_s` and that no
    attempt holds (`processing_until` passed or unset): lost messages, crashed attempts."""
    now = rt.clock()
    idle = or_(entries.c.processing_until.is_(None), entries.c.processing_until < now)
    with rt.engine.begin() as conn:
        ids = (
            conn.execute(select(entries.c.id).where(
                entries.c.state == EntryState.NEW, entries.c.enqueued_at < now - older_than_s, idle))
            .scalars()
            .all()
        )
        if ids:
            conn.execute(update(entries).where(entries.c.id.in_(ids)).values(enqueued_at=rt.clock()))
    return list(ids)
