"""Liveness without a broker round trip (`newswatch health`, `/readyz`).

- The worker's main process rewrites `<data_dir>/heartbeats/worker-<host>.json` every
  `HEARTBEAT_EVERY_S` from the consumer's own timer (on Redis that timer runs in the consumer's
  event loop, so a wedged loop stops the heartbeat too). A container healthcheck reads its own
  host's file: the embedded broker has no broadcast, so `celery inspect ping` cannot be used.
- The scheduler's liveness is the `heartbeats` row (`scheduler`, `-`) that every run of the
  scheduled task writes: it proves beat, the broker and a worker together.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from sqlalchemy import Column, Float, String, Table, select, update
from sqlalchemy.engine import Connection, Engine

from worker.schema import metadata
from worker.store import insert_ignore

HEARTBEAT_EVERY_S = 10.0
WORKER_STALE_S = 60.0  # a worker heartbeat older than this is dead
SCHEDULER = "scheduler"

heartbeats = Table(
    "heartbeats",
    metadata,
    Column("role", String(16), primary_key=True),
    Column("node", String(255), primary_key=True),
    Column("at", Float, nullable=False),
)


def worker_heartbeat_path(data_dir: Path, host: str | None = None) -> Path:
    """The heartbeat file of the worker on `host` (default: this host)."""
    return data_dir / "heartbeats" / f"worker-{host or socket.gethostname()}.json"


def write_worker_heartbeat(data_dir: Path, now: float | None = None) -> None:
    """Replace this host's worker heartbeat atomically (a reader never sees half a file)."""
    path = worker_heartbeat_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"at": now or time.time(), "pid": os.getpid()}), encoding="utf-8")
    os.replace(tmp, path)


def worker_heartbeat_age(data_dir: Path, now: float | None = None) -> float | None:
    """Seconds since this host's worker last wrote its heartbeat; None when it never did."""
    try:
        at = float(json.loads(worker_heartbeat_path(data_dir).read_text(encoding="utf-8"))["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return (now or time.time()) - at


def record_tick(engine: Engine, now: float, role: str = SCHEDULER, node: str = "-") -> None:
    """Store that `role` on `node` ran at `now` (idempotent; the newest time wins)."""
    with engine.begin() as conn:
        done = conn.execute(
            update(heartbeats)
            .where(heartbeats.c.role == role, heartbeats.c.node == node, heartbeats.c.at < now)
            .values(at=now)
        ).rowcount
        if not done:
            row = {"role": role, "node": node, "at": now}
            insert_ignore(conn, heartbeats, [row], returning=heartbeats.c.role)


def last_tick(conn: Connection, role: str = SCHEDULER) -> float | None:
    """The newest recorded run of `role`; None when none was recorded (or the table is missing,
    as on a store no worker of this release has opened yet)."""
    from sqlalchemy.exc import DBAPIError

    try:
        value = conn.execute(select(heartbeats.c.at).where(heartbeats.c.role == role)).scalars().all()
    except DBAPIError:
        conn.rollback()
        return None
    return max(value) if value else None
