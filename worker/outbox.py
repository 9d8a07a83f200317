"""Outbox rows: one delivery per (story message, destination), (operator notice, destination) or
(spike alert, destination), identified without storing the secret URL."""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.engine import Connection

from alerts.deliver import describe_destination
from worker.config import Settings
from worker.schema import DeliveryState, deliveries
from worker.store import insert_ignore

KEY_FILE = "destination.key"


def destination_key(settings: Settings, url: str) -> str:
    """A stable, secret-free identifier of one destination URL: a keyed hash, so that someone
    who can read the store cannot confirm a guessed URL (a bot token, a webhook) against it."""
    return hmac.new(_hash_key(settings), url.encode(), hashlib.sha256).hexdigest()[:32]


def destination_keys(settings: Settings, url: str) -> frozenset[str]:
    """Every identifier a stored delivery to `url` may carry: the keyed hash, and the unkeyed
    SHA-256 prefix of releases before it (their pending rows still deliver after an upgrade)."""
    return frozenset({destination_key(settings, url), hashlib.sha256(url.encode()).hexdigest()[:24]})


def _hash_key(settings: Settings) -> bytes:
    if settings.service.destination_key:
        return settings.service.destination_key.encode()
    return _key_file(settings.service.data_dir / KEY_FILE)


@functools.lru_cache(maxsize=8)
def _key_file(path: Path) -> bytes:
    """The key in `path`, created (mode 0600, 32 random bytes) by whichever process gets there
    first; the others read what it wrote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(100):  # the creator may not have written it yet
            key = path.read_bytes().strip()
            if key:
                return key
            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty: delete it or set service.destination_key") from None
    key = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
        out.flush()
        os.fsync(out.fileno())
    return key


def add_deliveries(
    conn: Connection,
    settings: Settings,
    alert_id: int | None,
    channels: Iterable[str],
    now: float,
    *,
    enqueued: bool,
    message_id: int | None = None,
    not_before: float | None = None,
    digest_key: str | None = None,
    notice_id: int | None = None,
) -> list[int]:
    """Create a pending delivery for every destination of `channels` (a destination named by two
    channels once: the first) and return the ids created. It sends `message_id` (a story
    message), `notice_id` (an operator notice, `alert_id` None), or else its alert (a spike).
    `enqueued` says whether the caller sends them now; otherwise the sweeper enqueues them once
    due (`not_before`, default now).
    `digest_key`: the rows are `held` for that digest until `not_before` (worker/digest_outbox.py)."""
    rows = [
        {
            "alert_id": alert_id,
            "message_id": message_id,
            "notice_id": notice_id,
            "channel": channel,
            "destination": destination_key(settings, url),
            "label": f"{channel}: {describe_destination(url)}",
            "state": DeliveryState.PENDING if digest_key is None else DeliveryState.HELD,
            "digest_key": digest_key,
            "next_attempt_at": now if not_before is None else max(now, not_before),
            "enqueued_at": now if enqueued else None,
            "created_at": now,
        }
        for channel in dict.fromkeys(channels)
        for url in settings.destinations(channel)
    ]
    return insert_ignore(conn, deliveries, rows, returning=deliveries.c.id)
