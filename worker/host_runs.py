"""Per-host politeness for a batch of polls: reserve a run of requests per host in one transaction.

A batch poll (`worker.polling.poll_feeds`) fetches many feeds, a few per host. Taking a slot and a
start time per request (`worker.hosts.acquire`, two transactions) would cost more than the request
itself; `reserve_runs` takes, for every host of the batch at once, one slot and k consecutive start
times (`next_start_at` moves on by k spacings), with the same lock order as `acquire` (pacing rows
first, then slots) so it serialises against it on both backends. A `HostRun` hands those starts out
to the run's requests, one after another, never two closer than the spacing:

- a request waits for the first unused start (the first lies `START_LEAD_S` ahead, so the run's
  thread is there in time); a request that comes late (the one before it ran
  past later starts) starts at once and uses up every start it has passed, so it still ends up
  at least one spacing before the next reserved start, or the next holder's;
- when the starts are used up, the run gives its slot back and every further request takes the
  ordinary path (`fallback`), as does any request to another host (a redirect).

A host whose next start is more than `wait_s` away, or with no free slot, gets no run: its
requests take the ordinary path, which waits a little and then defers the feed, as before.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, tuple_, update
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import OperationalError

from worker.hosts import HostLease, HostLimits, Pace, ensure_rows, host_key, release
from worker.schema import host_pacing, host_slots

# a request even a little late uses up the next start too, so a run's first start lies ahead
START_LEAD_S = 0.05


class HostRun:
    """Reserved start times and one held slot for consecutive requests to `host` (see the module
    docstring); used by one thread at a time, as a `Pace`, and released (`release_runs`) only
    after that thread is done."""

    def __init__(
        self,
        engine: Engine,
        lease: HostLease,
        starts: list[float],
        fallback: Pace,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine, self.lease, self.fallback, self.sleep = engine, lease, fallback, sleep
        self._starts = deque(starts)
        self._held = True

    @property
    def host(self) -> str:
        return self.lease.host

    def __call__(self, host: str) -> AbstractContextManager[object]:
        if host_key(host) != self.host or not self._take_start():
            return self.fallback(host)
        return nullcontext(self.lease)

    def _take_start(self) -> bool:
        if not self._starts:
            self.give_back()
            return False
        now = time.time()
        if now < self._starts[0]:
            self.sleep(self._starts.popleft() - now)
            return True
        while self._starts and self._starts[0] < now:  # late: the starts passed are used up
            self._starts.popleft()
        if not self._starts:
            self.give_back()
            return False
        self._starts.popleft()
        return True

    def give_back(self) -> None:
        """Release the slot now (idempotent); later requests take the ordinary path."""
        if self.detach():
            release(self.engine, self.lease)

    def detach(self) -> bool:
        """Stop using the slot; whether it was still held (then the caller releases it)."""
        held, self._held = self._held, False
        self._starts.clear()
        return held


@dataclass(frozen=True)
class Reservation:
    """What `reserve_runs` got: a run per host it could serve; `token` marks every slot taken
    (`release_runs`)."""

    token: str
    runs: dict[str, HostRun]


def reserve_runs(
    engine: Engine, wanted: Mapping[str, int], limits: HostLimits, *, wait_s: float, fallback: Pace
) -> Reservation:
    """For each host in `wanted` (host -> number of requests), one slot and that many start times,
    the first within `wait_s` from now. A host left out (its next start is later, or no slot is
    free) is busy: its requests take the ordinary path (`fallback`), which waits a little for it
    and then gives up with `HostBusy`."""
    token = uuid.uuid4().hex
    if not wanted:
        return Reservation(token, {})
    for host in wanted:
        ensure_rows(engine, host, limits.concurrency)
    hosts, t = sorted(wanted), time.time()
    count = case(dict(wanted), value=host_pacing.c.host, else_=0)
    soonest = t + START_LEAD_S
    first = case((host_pacing.c.next_start_at > soonest, host_pacing.c.next_start_at), else_=soonest)
    try:
        with engine.begin() as conn:
            paced = {
                r.host: float(r.next_start_at)
                for r in conn.execute(
                    update(host_pacing)
                    .where(host_pacing.c.host.in_(hosts), host_pacing.c.next_start_at <= t + wait_s)
                    .values(next_start_at=first + count * limits.spacing_s)
                    .returning(host_pacing.c.host, host_pacing.c.next_start_at)
                )
            }
            free = (
                select(host_slots.c.host, func.min(host_slots.c.slot))
                .where(
                    host_slots.c.host.in_(sorted(paced)),
                    host_slots.c.slot < limits.concurrency,
                    host_slots.c.lease_until <= t,
                )
                .group_by(host_slots.c.host)
            )
            key = tuple_(host_slots.c.host, host_slots.c.slot)
            taken: Sequence[Row[Any]] = (
                conn.execute(
                    update(host_slots)
                    .where(key.in_(free), host_slots.c.lease_until <= t)
                    .values(lease_until=t + limits.lease_s, token=token)
                    .returning(host_slots.c.host, host_slots.c.slot)
                )
                .all()
                if paced
                else []
            )
            slots = {r.host: int(r.slot) for r in taken}
            unslotted = sorted(set(paced) - set(slots))
            if unslotted:  # paced but no free slot: give the start times back
                conn.execute(
                    update(host_pacing)
                    .where(host_pacing.c.host.in_(unslotted))
                    .values(next_start_at=host_pacing.c.next_start_at - count * limits.spacing_s)
                )
    except OperationalError:  # a deadlock with a batch locking the same hosts the other way round
        return Reservation(token, {})
    runs = {}
    for host, slot in slots.items():
        k = wanted[host]
        start0 = paced[host] - k * limits.spacing_s
        starts = [start0 + i * limits.spacing_s for i in range(k)]
        runs[host] = HostRun(engine, HostLease(host, slot, token), starts, fallback)
    return Reservation(token, runs)


def release_runs(engine: Engine, reservation: Reservation) -> None:
    """Give back every slot of the reservation still held (one statement)."""
    held = sorted(run.host for run in reservation.runs.values() if run.detach())
    if held:
        with engine.begin() as conn:
            conn.execute(
                update(host_slots)
                .where(host_slots.c.host.in_(held), host_slots.c.token == reservation.token)
                .values(lease_until=0.0, token=None)
            )

