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

import contextlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Integer, bindparam, case, func, select, tuple_, update
from sqlalchemy.engine import Engine, Row
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.dml import Update

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
    engine: Engine,
    wanted: Mapping[str, int],
    limits: HostLimits,
    *,
    wait_s: float,
    fallback: Pace,
    releasing: Reservation | None = None,
) -> Reservation:
    """For each host in `wanted` (host -> number of requests), one slot and that many start times,
    the first within `wait_s` from now. A host left out (its next start is later, or no slot is
    free) is busy: its requests take the ordinary path (`fallback`), which waits a little for it
    and then gives up with `HostBusy`.

    `releasing`, a reservation whose runs are done (the previous wave of a batch), gives its slots
    back in the same transaction, first (`release_runs` then finds nothing left to release); if
    that transaction fails they are given back on their own before the error goes on."""
    token = uuid.uuid4().hex
    held = _detach(releasing)
    back = (releasing.token, held) if releasing is not None and held else None
    try:
        reserved = _reserve(engine, token, wanted, limits, wait_s, fallback, back) if wanted else None
    except BaseException:
        if back is not None:
            with contextlib.suppress(Exception):  # the error that got here is the one to report
                _release(engine, *back)
        raise
    if reserved is None:  # nothing wanted, or a deadlock rolled the transaction back
        if back is not None:
            _release(engine, *back)
        return Reservation(token, {})
    return reserved


def _reserve(
    engine: Engine,
    token: str,
    wanted: Mapping[str, int],
    limits: HostLimits,
    wait_s: float,
    fallback: Pace,
    back: tuple[str, list[str]] | None,
) -> Reservation | None:
    """The reservation of `wanted` (not empty), giving back `back` (token, hosts) in the same
    transaction; None when a deadlock rolled it back."""
    for host in wanted:
        ensure_rows(engine, host, limits.concurrency)
    hosts, t = sorted(wanted), time.time()
    counts = set(wanted.values())
    count: Any = _COUNT if len(counts) == 1 else case(dict(wanted), value=host_pacing.c.host, else_=0)
    params = {
        "hosts": hosts,
        "horizon": t + wait_s,
        "soonest": t + START_LEAD_S,
        "spacing": limits.spacing_s,
        "count": min(counts),
        "now": t,
        "concurrency": limits.concurrency,
        "b_lease_until": t + limits.lease_s,
        "b_token": token,
    }
    try:
        with engine.begin() as conn:
            if back is not None:
                conn.execute(_RELEASE, {"hosts": back[1], "b_token": back[0]})
            pace = _PACE if len(counts) == 1 else _pace_statement(count)
            paced = {r.host: float(r.next_start_at) for r in conn.execute(pace, params)}
            taken: Sequence[Row[Any]] = (
                conn.execute(_TAKE_SLOTS, {**params, "paced": sorted(paced)}).all() if paced else []
            )
            slots = {r.host: int(r.slot) for r in taken}
            unslotted = sorted(set(paced) - set(slots))
            if unslotted:  # paced but no free slot: give the start times back
                conn.execute(
                    update(host_pacing)
                    .where(host_pacing.c.host.in_(unslotted))
                    .values(next_start_at=host_pacing.c.next_start_at - count * limits.spacing_s),
                    params,
                )
    except OperationalError:  # a deadlock with a batch locking the same hosts the other way round
        return None
    runs = {}
    for host, slot in slots.items():
        k = wanted[host]
        start0 = paced[host] - k * limits.spacing_s
        starts = [start0 + i * limits.spacing_s for i in range(k)]
        runs[host] = HostRun(engine, HostLease(host, slot, token), starts, fallback)
    return Reservation(token, runs)


def release_runs(engine: Engine, reservation: Reservation) -> None:
    """Give back every slot of the reservation still held (one statement)."""
    held = _detach(reservation)
    if held:
        _release(engine, reservation.token, held)


def _detach(reservation: Reservation | None) -> list[str]:
    """The hosts whose slots the reservation still holds, its runs stopped from using them."""
    if reservation is None:
        return []
    return sorted(run.host for run in reservation.runs.values() if run.detach())


def _release(engine: Engine, token: str, hosts: list[str]) -> None:
    with engine.begin() as conn:
        conn.execute(_RELEASE, {"hosts": hosts, "b_token": token})


# The statements of a reservation, built once (building them per wave cost as much as running them).
def _float(name: str) -> Any:
    return bindparam(name, type_=Float())


def _int(name: str) -> Any:
    return bindparam(name, type_=Integer())


_COUNT = _int("count")


def _pace_statement(count: Any) -> Update:
    """Move each host's next start on by its count of spacings, from its first start: the later of
    its own next start and `soonest`; only hosts whose next start is within the horizon."""
    first = case(
        (host_pacing.c.next_start_at > _float("soonest"), host_pacing.c.next_start_at),
        else_=_float("soonest"),
    )
    return (
        update(host_pacing)
        .where(
            host_pacing.c.host.in_(bindparam("hosts", expanding=True)),
            host_pacing.c.next_start_at <= _float("horizon"),
        )
        .values(next_start_at=first + count * _float("spacing"))
        .returning(host_pacing.c.host, host_pacing.c.next_start_at)
    )


_PACE = _pace_statement(_COUNT)  # every host with the same count (the usual case)
_FREE = (
    select(host_slots.c.host, func.min(host_slots.c.slot))
    .where(
        host_slots.c.host.in_(bindparam("paced", expanding=True)),
        host_slots.c.slot < _int("concurrency"),
        host_slots.c.lease_until <= _float("now"),
    )
    .group_by(host_slots.c.host)
)
_TAKE_SLOTS = (
    update(host_slots)
    .where(tuple_(host_slots.c.host, host_slots.c.slot).in_(_FREE), host_slots.c.lease_until <= _float("now"))
    .values(lease_until=_float("b_lease_until"), token=bindparam("b_token"))
    .returning(host_slots.c.host, host_slots.c.slot)
)
_RELEASE = (
    update(host_slots)
    .where(
        host_slots.c.host.in_(bindparam("hosts", expanding=True)),
        host_slots.c.token == bindparam("b_token"),
    )
    .values(lease_until=0.0, token=None)
)
