"""A durable redelivery counter: when to stop offering work that keeps killing its process.

Brokers keep no redelivery count (reliability.md A2), and `task_reject_on_worker_lost` requeues a
task whose pool child died, so a message that kills its child every time would loop forever. The
counter lives in the store (its own table, created on first use), keyed by task name and
arguments rather than by message id, so that a new message for the same lost work cannot restart
the loop. Only redelivered messages increment it: a normal run costs one primary-key read.
Entries have their own attempt counter in the store (`worker.processing`); this one serves the
other late-acked tasks (polls, and test-only tasks).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from worker.schema import SCHEMA_LOCK_KEY

MAX_DELIVERIES = 3  # deliveries of one unit of work before it is quarantined
WINDOW_S = 3600.0  # a quarantine (and a count) expires after this, so a fixed bug heals itself

_metadata = MetaData()
task_deliveries = Table(
    "task_deliveries",
    _metadata,
    Column("work_key", String(255), primary_key=True),
    Column("redeliveries", Integer, nullable=False, default=0),
    Column("first_at", Float, nullable=False),
)


def work_key(task_name: str, args: Sequence[Any] | None) -> str:
    """The identity of one unit of work: the task name and its (id-only) JSON arguments."""
    return f"{task_name}:{json.dumps(list(args or []), separators=(',', ':'))}"[:255]


class RedeliveryGuard:
    """Counts redeliveries per unit of work in the store and says when to quarantine it."""

    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        self.engine, self.clock = engine, clock
        with engine.begin() as conn:  # pool processes start together: one creates, the others see it
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK_KEY})")
            _metadata.create_all(conn, checkfirst=True)

    def admit(self, key: str, *, redelivered: bool) -> int | None:
        """None if the work may run; else the number of deliveries seen (it is quarantined)."""
        now = self.clock()
        if not redelivered:  # the common case: one read, no write
            with self.engine.connect() as conn:
                row = conn.execute(select(task_deliveries).where(task_deliveries.c.work_key == key)).first()
            if row is None or row.first_at < now - WINDOW_S:
                return None
            seen: int = row.redeliveries + 1
            return seen if seen > MAX_DELIVERIES else None
        with self.engine.begin() as conn:
            row = conn.execute(select(task_deliveries).where(task_deliveries.c.work_key == key)).first()
            if row is not None and row.first_at < now - WINDOW_S:
                conn.execute(delete(task_deliveries).where(task_deliveries.c.work_key == key))
                row = None
            count = row.redeliveries if row is not None else 0
            if redelivered:
                count += 1
                if row is None:
                    try:
                        with conn.begin_nested():
                            conn.execute(
                                task_deliveries.insert().values(work_key=key, redeliveries=1, first_at=now)
                            )
                    except IntegrityError:  # a concurrent first redelivery inserted it
                        conn.execute(
                            update(task_deliveries)
                            .where(task_deliveries.c.work_key == key)
                            .values(redeliveries=task_deliveries.c.redeliveries + 1)
                        )
                else:
                    conn.execute(
                        update(task_deliveries)
                        .where(task_deliveries.c.work_key == key)
                        .values(redeliveries=task_deliveries.c.redeliveries + 1)
                    )
        deliveries = count + 1
        return deliveries if deliveries > MAX_DELIVERIES else None

    def prune(self) -> int:
        """Forget counts older than the window; returns how many were removed."""
        with self.engine.begin() as conn:
            removed: int = conn.execute(
                delete(task_deliveries).where(task_deliveries.c.first_at < self.clock() - WINDOW_S)
            ).rowcount
        return removed
