"""The fetch step of a batch poll (`worker.polling.poll_feeds`): the started feeds, one run per
host, the runs in threads.

Contracts:
- `fetch_all` fetches every started feed once, or returns it DEFERRED: the feeds of a host beyond
  `HOST_RUN_S` of its spacing, those of a host still busy after `POLL_HOST_WAIT_S`, and those not
  started in time for the task's soft time limit. It writes nothing of the feeds' (only the hosts'
  politeness rows).
- A host's feeds run one after another, at most `POLL_THREADS` hosts at a time ("waves"), in one
  thread pool per batch. Each wave's runs are reserved (`worker.host_runs`) just before the wave
  starts (a run that waited for a thread would miss its reserved starts), in the same transaction
  that gives back the previous wave's slots; the last wave's are given back at the end.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import httpx
from sqlalchemy.engine import Row

from worker.config import FeedSpec
from worker.host_runs import Reservation, release_runs, reserve_runs
from worker.hosts import Pace, host_key, host_pace, limits_for
from worker.poll_record import Polled, PollOutcome, fetch_feed
from worker.runtime import Runtime

POLL_HOST_WAIT_S = 2.0  # a poll waits this long for a busy host, then is rescheduled instead
HOST_RUN_S = 10.0  # a batch polls at most this many seconds' worth of one host's spacing
POLL_THREADS = 16  # hosts fetched at once (each thread's malloc arena and stack count against RLIMIT_AS)

Work = dict[int, tuple[Row[Any], FeedSpec]]


@functools.lru_cache(maxsize=65536)
def feed_host(source: str) -> str:
    """The host a feed's first request goes to, as the fetcher names it ("" for a local file)."""
    try:
        return host_key(httpx.URL(source).host)
    except httpx.InvalidURL:
        return ""


def deferred(ids: Sequence[int], retry_in: float) -> Iterator[tuple[int, Polled]]:
    """DEFERRED results for `ids`, to be tried again in `retry_in` seconds."""
    return ((f, Polled(PollOutcome.DEFERRED, False, retry_after=retry_in)) for f in ids)


def fetch_all(rt: Runtime, work: Work, now: float) -> dict[int, Polled]:
    """Fetch the started feeds (module docstring)."""
    limits = limits_for(rt.settings.fetch)
    per_run = 1 + int(HOST_RUN_S / limits.spacing_s) if limits.spacing_s > 0 else len(work)
    by_host: dict[str, list[int]] = {}
    for feed_id, (row, _) in work.items():
        by_host.setdefault(feed_host(row.source), []).append(feed_id)
    polled: dict[int, Polled] = {}
    for host, ids in by_host.items():
        if host:
            polled.update(deferred(ids[per_run:], per_run * limits.spacing_s))
            del ids[per_run:]
    # stop starting fetches in time for the last one to end before the task's soft time limit
    stop_at = time.monotonic() + rt.settings.service.task_soft_limit_s - rt.settings.fetch.deadline_s - 10.0
    fallback = host_pace(rt.engine, limits, wait_s=POLL_HOST_WAIT_S)
    hosts = list(by_host.items())
    reservation: Reservation | None = None
    try:
        with ThreadPoolExecutor(min(POLL_THREADS, max(len(hosts), 1)), thread_name_prefix="poll") as pool:
            for i in range(0, len(hosts), POLL_THREADS):
                wave = dict(hosts[i : i + POLL_THREADS])
                hosted = {h: len(ids) for h, ids in wave.items() if h}
                reservation = reserve_runs(
                    rt.engine,
                    hosted,
                    limits,
                    wait_s=POLL_HOST_WAIT_S,
                    fallback=fallback,
                    releasing=reservation,
                )
                runs = [(reservation.runs.get(h, fallback), ids) for h, ids in wave.items()]
                if len(runs) == 1:  # no thread for a single run
                    polled.update(_run(rt, runs[0][1], work, runs[0][0], now, stop_at))
                    continue
                for got in pool.map(lambda r: _run(rt, r[1], work, r[0], now, stop_at), runs):
                    polled.update(got)
    finally:
        if reservation is not None:
            release_runs(rt.engine, reservation)
    return polled


def _run(rt: Runtime, ids: list[int], work: Work, pace: Pace, now: float, stop: float) -> dict[int, Polled]:
    """One host's feeds, one after another, under `pace`."""
    out: dict[int, Polled] = {}
    for i, feed_id in enumerate(ids):
        if i and time.monotonic() > stop:
            out.update(deferred(ids[i:], 1.0))
            break
        began = time.perf_counter()
        got = fetch_feed(rt.fetcher, *work[feed_id], rt.settings.fetch, pace, now)
        out[feed_id] = replace(got, elapsed_s=time.perf_counter() - began)
    return out
