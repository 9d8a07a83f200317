"""Per-host politeness shared by every worker process: at most N requests in flight to one host
and a minimum gap between request starts, whatever the number of workers or machines.

The state lives in the store (works the same on SQLite and PostgreSQL):
- `host_pacing (host)`: `next_start_at`, the earliest wall-clock time the next request may start;
- `host_slots (host, slot)`: `lease_until`/`token`, one row per concurrency slot.

A request takes a slot with conditional UPDATEs in one transaction (pacing row first, which
serialises competing takers of the same host on both backends), and gives it back when it is
done. A crashed holder's slot frees itself when its lease expires. `host_pace` makes the fetcher
take the slot of every host it actually contacts, redirect hops included, and (for article
pages) a 429/503 answer with Retry-After pushes that host's `next_start_at` back, so every worker
leaves the host alone until then. A feed's own Retry-After is kept on the feed (`next_check_at`).
Times are wall-clock (`time.time`), not the runtime's injectable clock: politeness is about real
seconds between real requests across processes.
"""

from __future__ import annotations

import random
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from worker.config import FetchSpec
from worker.net import FetchError
from worker.schema import host_pacing, host_slots
from worker.store import insert_ignore

_POLL_S = 0.05  # how often a waiting taker retries


@dataclass(frozen=True)
class HostLease:
    """One held slot; give it back with `release`."""

    host: str
    slot: int
    token: str


@dataclass(frozen=True)
class HostLimits:
    """The per-host budget: `concurrency` slots, `spacing_s` between starts, `lease_s` per hold;
    a host's Retry-After is honoured up to `max_backoff_s`."""

    concurrency: int
    spacing_s: float
    lease_s: float
    max_backoff_s: float = 86_400.0


class HostBusy(Exception):
    """No slot for the host within the allowed wait; `retry_in` is a hint in seconds."""

    def __init__(self, host: str, retry_in: float) -> None:
        super().__init__(f"host {host} is busy (per-host limit), retry in {retry_in:.1f} s")
        self.host = host
        self.retry_in = retry_in


def host_key(host: str) -> str:
    """The name a host's slots and pacing are kept under (case and a trailing dot do not make
    another host): every taker of a slot keys on it, or two spellings would escape the limits."""
    return host.lower().rstrip(".")


def limits_for(fetch: FetchSpec) -> HostLimits:
    """The per-host budget from the fetch settings; a slot outlives the longest possible fetch."""
    return HostLimits(
        fetch.per_host_concurrency, fetch.per_host_spacing_s, fetch.deadline_s + 30.0, fetch.max_backoff_s
    )


def _try(engine: Engine, host: str, limits: HostLimits, t: float) -> HostLease | float:
    token = uuid.uuid4().hex
    with engine.connect() as conn:
        tx = conn.begin()
        paced = conn.execute(
            update(host_pacing)
            .where(host_pacing.c.host == host, host_pacing.c.next_start_at <= t)
            .values(next_start_at=t + limits.spacing_s)
        ).rowcount
        if paced != 1:
            next_start: float | None = conn.execute(
                select(host_pacing.c.next_start_at).where(host_pacing.c.host == host)
            ).scalar()
            tx.rollback()
            if next_start is None:  # rows gone since ensure_rows saw them (a wiped store): recreate
                ensure_rows(engine, host, limits.concurrency, recheck=True)
                return _POLL_S
            return max(next_start - t, _POLL_S)
        free = conn.execute(
            select(host_slots.c.slot)
            .where(
                host_slots.c.host == host,
                host_slots.c.slot < limits.concurrency,
                host_slots.c.lease_until <= t,
            )
            .limit(1)
        ).scalar()
        if free is not None:
            won = conn.execute(
                update(host_slots)
                .where(host_slots.c.host == host, host_slots.c.slot == free, host_slots.c.lease_until <= t)
                .values(lease_until=t + limits.lease_s, token=token)
            ).rowcount
            if won == 1:
                tx.commit()
                return HostLease(host, free, token)
        tx.rollback()
    return _POLL_S


def acquire(
    engine: Engine,
    host: str,
    limits: HostLimits,
    *,
    wait_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> HostLease:
    """Take a slot for `host`, waiting at most `wait_s` seconds; raises `HostBusy` otherwise."""
    deadline = time.monotonic() + wait_s
    ensure_rows(engine, host, limits.concurrency)
    while True:
        got = _try(engine, host, limits, time.time())
        if isinstance(got, HostLease):
            return got
        left = deadline - time.monotonic()
        if left <= 0 or got > left:
            raise HostBusy(host, max(got, _POLL_S))
        sleep(min(got, left) * (0.8 + 0.4 * random.random()))  # jitter: takers do not march in step


def release(engine: Engine, lease: HostLease) -> None:
    """Give the slot back (only if it is still ours: an expired lease may have been re-taken)."""
    with engine.begin() as conn:
        conn.execute(
            update(host_slots)
            .where(
                host_slots.c.host == lease.host,
                host_slots.c.slot == lease.slot,
                host_slots.c.token == lease.token,
            )
            .values(lease_until=0.0, token=None)
        )


Pace = Callable[[str], AbstractContextManager[object]]


def host_pace(engine: Engine, limits: HostLimits, *, wait_s: float, retry_after: bool = False) -> Pace:
    """For the fetcher: hold a slot of each host it contacts (redirect hops included) while that
    request runs; with `retry_after`, back the host off when it answers 429/503 with Retry-After."""

    @contextmanager
    def held(host: str) -> Iterator[object]:
        name = host_key(host)
        lease = acquire(engine, name, limits, wait_s=wait_s)
        try:
            yield lease
        except FetchError as exc:
            if retry_after and exc.status in (429, 503) and exc.retry_after:
                back_off(engine, name, min(exc.retry_after, limits.max_backoff_s))
            raise
        finally:
            release(engine, lease)

    return held


def back_off(engine: Engine, host: str, seconds: float, *, now: float | None = None) -> None:
    """No request to `host` starts for `seconds` (only ever pushes the next start later)."""
    until = (time.time() if now is None else now) + seconds
    with engine.begin() as conn:
        insert_ignore(conn, host_pacing, [{"host": host, "next_start_at": 0.0}], returning=host_pacing.c.host)
        conn.execute(
            update(host_pacing)
            .where(host_pacing.c.host == host, host_pacing.c.next_start_at < until)
            .values(next_start_at=until)
        )


# Per engine, the (host, concurrency) whose rows this process has seen: rows are never deleted,
# so the check (a query and a pool checkout) is needed once per host, not once per request.
_ROWS_SEEN: weakref.WeakKeyDictionary[Engine, set[tuple[str, int]]] = weakref.WeakKeyDictionary()
_ROWS_SEEN_MAX = 100_000  # hosts remembered per engine


def ensure_rows(engine: Engine, host: str, concurrency: int, *, recheck: bool = False) -> None:
    """Create the host's pacing row and `concurrency` slot rows if missing (checked once per
    process and host; `recheck` after finding them gone)."""
    seen = _ROWS_SEEN.setdefault(engine, set())
    if recheck:
        seen.discard((host, concurrency))
    elif (host, concurrency) in seen:
        return
    with engine.connect() as conn:
        have = conn.execute(
            select(func.count()).select_from(host_slots).where(host_slots.c.host == host)
        ).scalar_one()
    if have < concurrency:
        with engine.begin() as conn:
            insert_ignore(
                conn, host_pacing, [{"host": host, "next_start_at": 0.0}], returning=host_pacing.c.host
            )
            insert_ignore(
                conn,
                host_slots,
                [{"host": host, "slot": s, "lease_until": 0.0} for s in range(have, concurrency)],
                returning=host_slots.c.slot,
            )
    if len(seen) >= _ROWS_SEEN_MAX:
        seen.clear()
    seen.add((host, concurrency))
