"""One in-process pass over everything due: poll → process → send, then the outbox sweep.

This is `newswatch run --once`: the same pipeline functions the Celery tasks call, run in order
in this process, for cron-style use and for quick checks of a configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.delivery import SendOutcome, send_delivery, sweep
from worker.polling import claim_due_feeds, poll_feed, sync_feeds
from worker.processing import process_entry
from worker.runtime import Runtime


@dataclass(frozen=True)
class PassReport:
    """Counts of one pass, and the readable errors of feeds that failed."""

    feeds_polled: int
    entries_processed: int
    alerts_sent: int
    deliveries_failed: int
    feed_errors: tuple[str, ...]


def run_once(rt: Runtime) -> PassReport:
    """Poll every due feed, process its new entries and send their deliveries."""
    sync_feeds(rt)
    feed_ids = claim_due_feeds(rt)
    errors: list[str] = []
    entry_ids: list[int] = []
    for feed_id in feed_ids:
        polled = poll_feed(rt, feed_id)
        entry_ids += polled.new_entry_ids
        if polled.error:
            errors.append(f"{polled.feed}: {polled.error}")
    delivery_ids: list[int] = []
    found = sweep(rt)
    entry_ids += found.entry_ids
    delivery_ids += found.delivery_ids
    for entry_id in dict.fromkeys(entry_ids):
        delivery_ids += process_entry(rt, entry_id).delivery_ids
    states = [send_delivery(rt, d).state for d in dict.fromkeys(delivery_ids)]
    return PassReport(
        feeds_polled=len(feed_ids),
        entries_processed=len(entry_ids),
        alerts_sent=states.count(SendOutcome.SENT),
        deliveries_failed=states.count(SendOutcome.FAILED) + states.count(SendOutcome.PENDING),
        feed_errors=tuple(errors),
    )
