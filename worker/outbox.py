"""Outbox rows: one delivery per (alert, destination), identified without storing the secret URL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy.engine import Connection

from alerts.deliver import describe_destination
from worker.config import Settings
from worker.schema import deliveries
from worker.store import insert_ignore


def destination_key(url: str) -> str:
    """A stable, secret-free identifier of one destination URL."""
    return hashlib.sha256(url.encode()).hexdigest()[:24]


def add_deliveries(
    conn: Connection,
    settings: Settings,
    alert_id: int,
    channels: Iterable[str],
    now: float,
    *,
    enqueued: bool,
) -> list[int]:
    """Create a pending delivery for every destination of `channels` (duplicates ignored) and
    return the ids created. `enqueued` says whether the caller sends them now; otherwise the
    sweeper enqueues them on its next tick."""
    rows = [
        {
            "alert_id": alert_id,
            "channel": channel,
            "destination": destination_key(url),
            "label": f"{channel}: {describe_destination(url)}",
            "state": "pending",
            "next_attempt_at": now,
            "enqueued_at": now if enqueued else None,
            "created_at": now,
        }
        for channel in dict.fromkeys(channels)
        for url in settings.destinations(channel)
    ]
    return insert_ignore(conn, deliveries, rows, returning=deliveries.c.id)
