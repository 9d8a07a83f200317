"""Poll stage: claim due feeds, fetch them politely in batches, store their new entries once.

Contracts:
- `sync_feeds` makes the `feeds` table mirror the configuration (by name).
- `claim_due` hands each due feed to exactly one caller per interval, whatever the number
  of beat processes (a conditional UPDATE on `lease_until`), as a numbered `FeedClaim` that the
  poll message carries. When a claim's lease (`service.lease_s`, the task time limit) runs out
  before its poll starts (a backlog in the queue), the next tick claims the feed again under a
  new number. `claim_batches` deals the claims into batches, the hosts in turn.
- `poll_feeds` polls a batch of claimed feeds. A feed starts only with a conditional UPDATE that
  no other poll of the feed can pass at the same time: no poll of the feed is running
  (`polling_until`), and the message's claim is the latest one or the feed is still due. Starting
  consumes the claim, so every other message queued for the feed (older claims, duplicates)
  drops out as `superseded` once the feed is polled: one fetch per feed per interval whatever the
  queue wait. Running it twice stores nothing twice. Errors are recorded on the feed with a
  readable reason and a capped, jittered backoff; a feed is never disabled.
- A batch costs a handful of statements whatever its size (one read, one start, one host
  reservation per 16 hosts that also gives the previous 16 hosts' slots back, one last release,
  one write of the feed rows, one read of their health), not six transactions per feed: at
  10,000 feeds a minute the store round trips were most of the cost. Each host's feeds run one
  after another in the batch and the hosts in threads (`worker.poll_fetch`).
- Every request holds a slot of the host it contacts, redirect hops included (`worker.hosts`,
  `worker.host_runs`), starts no closer than the host's spacing to any other, and a host busy
  beyond a short wait is not an error: its feeds are rescheduled a little later via
  `next_check_at`, so no worker sleeps long and no long Celery countdown exists.
- A feed whose last poll never ended (its process died: `polling_until` set and expired) is not
  polled in a batch of several but returned in `PollBatch.isolate`, to be polled in a message of
  its own, so a feed that kills its process takes no other feed with it and the per-message
  quarantine can stop it.
- After every poll the feed's health is observed (`worker.health`): at most one operator notice
  per failing/silent episode and one on recovery.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.engine import Row

from worker.config import FeedSpec, backfill_seconds
from worker.health import observe_polls
from worker.poll_fetch import feed_host, fetch_all
from worker.poll_record import Polled, PollOutcome, feed_update, store_entries, write_feed_updates
from worker.runtime import Runtime
from worker.schema import EntryState, entries, feeds
from worker.store import insert_ignore

__all__ = [
    "FeedClaim",
    "PollBatch",
    "PollOutcome",
    "PollResult",
    "claim_batches",
    "claim_due",
    "claim_due_feeds",
    "poll_feed",
    "poll_feeds",
    "stale_new_entries",
    "sync_feeds",
]

log = logging.getLogger(__name__)

BACKLOG_ENTRIES = 20  # a breaking story adds a handful of items to a feed between two polls


class FeedClaim(NamedTuple):
    """A feed handed out for polling: `claim` is its number, carried by the poll message."""

    feed_id: int
    claim: int | None  # None: an in-process caller that has just claimed (no claim check)


@dataclass(frozen=True)
class PollResult:
    """What one poll did; `elapsed_s` is the time its fetch took."""

    feed: str
    outcome: PollOutcome
    new_entry_ids: tuple[int, ...] = ()
    error: str | None = None
    elapsed_s: float = 0.0

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
    """Claim every configured feed whose next check is due (all of them with `force`)."""
    return sorted(claim for _, claim in _claim(rt, force))


def claim_batches(rt: Runtime, size: int) -> list[list[FeedClaim]]:
    """`claim_due`, in batches of `size` claims that take the hosts in turn (every host's first
    feed, then every host's second, …): a host's feeds are spread over consecutive batches, so a
    batch seldom waits for a host's spacing, and batches that do share a host at the same time
    still keep its limits (`worker.host_runs`)."""
    by_host: dict[str, list[FeedClaim]] = {}
    for host, claim in sorted(_claim(rt, False)):
        by_host.setdefault(host, []).append(claim)
    turns = itertools.zip_longest(*by_host.values())
    ordered = [claim for turn in turns for claim in turn if claim is not None]
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def _claim(rt: Runtime, force: bool) -> list[tuple[str, FeedClaim]]:
    """The claims with their hosts. One conditional UPDATE … RETURNING for all of them (not one
    round trip per feed: at 10,000 feeds a tick claims hundreds): a row another beat has just
    claimed fails the re-checked `lease_until` condition (PostgreSQL re-evaluates it on the
    updated row; SQLite serialises writers), so each due feed is still handed to one caller."""
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
            .returning(feeds.c.id, feeds.c.claim, feeds.c.source)
        ).all()
    return [(feed_host(row.source), FeedClaim(int(row.id), int(row.claim))) for row in won]


def claim_due_feeds(rt: Runtime, *, force: bool = False) -> list[int]:
    """The ids of the feeds `claim_due` claimed (for in-process callers that poll at once)."""
    return [c.feed_id for c in claim_due(rt, force=force)]


@dataclass(frozen=True)
class PollBatch:
    """What `poll_feeds` did: a result per feed polled or dropped, and the feeds to poll alone."""

    results: tuple[PollResult, ...]
    isolate: tuple[FeedClaim, ...] = ()


def poll_feed(rt: Runtime, feed_id: int, claim: int | None = None) -> PollResult:
    """Poll one feed (a batch of one: it is never isolated); see `poll_feeds`."""
    return poll_feeds(rt, [FeedClaim(feed_id, claim)]).results[0]


def poll_feeds(rt: Runtime, claims: Sequence[FeedClaim]) -> PollBatch:
    """Fetch and parse the claimed feeds; store new entries; schedule each feed's next check;
    observe their health. A result's `new_entry_ids` are the entries stored for the first time
    (on a feed's first poll, entries older than its `backfill` are stored as seen, not
    returned)."""
    now = rt.clock()
    wanted = {c.feed_id: c.claim for c in claims}
    with rt.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(feeds).where(feeds.c.id.in_(list(wanted))))}
    results: dict[int, PollResult] = {}
    specs: dict[int, FeedSpec] = {}
    isolate: list[FeedClaim] = []
    for feed_id, claim in wanted.items():
        row = rows.get(feed_id)
        spec = rt.feed_spec(row.name) if row is not None else None
        if row is None or spec is None:
            results[feed_id] = PollResult(feed=str(feed_id), outcome=PollOutcome.UNKNOWN)
        elif len(wanted) > 1 and 0.0 < (row.polling_until or 0.0) <= now:
            isolate.append(FeedClaim(feed_id, claim))
        else:
            specs[feed_id] = spec
    started = _start(rt, {f: wanted[f] for f in specs}, now)
    for feed_id in specs.keys() - started:
        log.info("poll dropped: claim %s of feed %s is superseded", wanted[feed_id], specs[feed_id].name)
        results[feed_id] = PollResult(feed=specs[feed_id].name, outcome=PollOutcome.SUPERSEDED)
    polled = fetch_all(rt, {f: (rows[f], specs[f]) for f in started}, now)
    results.update(_record(rt, rows, specs, polled, now))
    return PollBatch(tuple(results[f] for f in wanted if f in results), tuple(isolate))


def _start(rt: Runtime, claims: dict[int, int | None], now: float) -> set[int]:
    """Take the running-poll lease of each feed that may be polled now (module docstring)."""
    if not claims:
        return set()
    checked = [(f, c) for f, c in claims.items() if c is not None]
    unchecked = [f for f, c in claims.items() if c is None]
    may = [feeds.c.next_check_at <= now]
    if checked:
        may.append(tuple_(feeds.c.id, feeds.c.claim).in_(checked))
    if unchecked:
        may.append(feeds.c.id.in_(unchecked))
    lease = now + rt.settings.service.lease_s
    with rt.engine.begin() as conn:
        won = conn.execute(
            update(feeds)
            .where(feeds.c.id.in_(list(claims)), func.coalesce(feeds.c.polling_until, 0.0) <= now, or_(*may))
            .values(polling_until=lease, lease_until=lease, claim=func.coalesce(feeds.c.claim, 0) + 1)
            .returning(feeds.c.id)
        ).scalars()
        return {int(i) for i in won}


def _record(
    rt: Runtime, rows: dict[int, Row[Any]], specs: dict[int, FeedSpec], polled: dict[int, Polled], now: float
) -> dict[int, PollResult]:
    """Store new entries (per feed), then every feed row's update in one transaction, then health."""
    results: dict[int, PollResult] = {}
    updates: dict[int, dict[str, Any]] = {}
    health: dict[int, tuple[int, int]] = {}
    for feed_id, got in polled.items():
        row, spec = rows[feed_id], specs[feed_id]
        new_ids: tuple[int, ...] = ()
        if got.outcome is PollOutcome.FETCHED and got.parsed is not None:
            backlog = backfill_seconds(spec.backfill) if row.last_success_at is None else None
            seen_before = None if backlog is None else now - backlog
            new_ids = tuple(store_entries(rt, feed_id, got.parsed.entries, now, seen_before))
        updates[feed_id] = feed_update(row, spec, got, rt.settings.fetch, now)
        if got.outcome is not PollOutcome.DEFERRED:
            health[feed_id] = (int(updates[feed_id].get("error_streak", 0)), len(new_ids))
        results[feed_id] = PollResult(spec.name, got.outcome, new_ids, got.error, got.elapsed_s)
    if updates:
        with rt.engine.begin() as conn:
            write_feed_updates(conn, updates)
    observe_polls(rt, health)
    return results


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
