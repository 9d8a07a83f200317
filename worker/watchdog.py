"""Consumption watchdog: a worker whose consumer has silently stopped takes itself down.

Some broker failures reach no error at all: a half-open TCP connection (a NAT or firewall that
forgot the flow, a frozen link) leaves kombu waiting for a BRPOP reply that never comes, and a rare
kombu path after a Redis restart has been seen to idle the same way (celery#8030 family). The
worker then looks alive while messages pile up. The watchdog checks, from outside the consumer,
what a healthy worker makes impossible for long: messages waiting in the queues it consumes, a
prefetch slot free, Redis answering a fresh connection, and no message received. When that holds
for `stall_s` seconds it reports the stall, and the worker exits non-zero so that its supervisor
(docker's restart policy, systemd) starts a fresh one; unacked work comes back through the
sweepers and the visibility timeout, so nothing is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Probe:
    """One look at the broker and the consumer: `waiting` is None when Redis did not answer."""

    waiting: int | None
    slot_free: bool


class ConsumptionWatchdog:
    """Decides, from periodic probes, whether the consumer has stalled.

    `note_received()` is called for every message the consumer takes; `check(probe)` is called
    every few seconds and returns the reason once the stall condition has held for `stall_s`.
    """

    def __init__(self, stall_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_s = stall_s
        self.clock = clock
        self._received = 0
        self._seen_received = 0
        self._stalled_since: float | None = None

    def note_received(self) -> None:
        self._received += 1  # one writer (the consumer thread); a lost race only delays a verdict

    def check(self, probe: Probe) -> str | None:
        """None while the consumer looks healthy; else why it is judged stalled."""
        now = self.clock()
        received, self._seen_received = self._received != self._seen_received, self._received
        if received or not probe.waiting or not probe.slot_free:
            self._stalled_since = None
            return None
        if self._stalled_since is None:
            self._stalled_since = now
            return None
        stalled = now - self._stalled_since
        if stalled < self.stall_s:
            return None
        return (
            f"consumer stalled: {probe.waiting} message(s) waiting and a prefetch slot free for "
            f"{stalled:.0f} s while Redis answers, but no message was received"
        )


def watch(
    watchdog: ConsumptionWatchdog,
    probe: Callable[[], Probe],
    on_stall: Callable[[str], None],
    *,
    interval_s: float,
    stop: threading.Event,
) -> threading.Thread:
    """Run `watchdog` on `probe()` every `interval_s` in a daemon thread until `stop` is set;
    `on_stall(reason)` is called once, and the thread ends."""

    def loop() -> None:
        while not stop.wait(interval_s):
            try:
                reason = watchdog.check(probe())
            except Exception:  # a failing probe must never take the worker down by itself
                log.exception("consumption watchdog probe failed")
                continue
            if reason is not None:
                on_stall(reason)
                return

    thread = threading.Thread(target=loop, name="newswatch-watchdog", daemon=True)
    thread.start()
    return thread


def redis_probe(broker_url: str, queues: list[str], slot_free: Callable[[], bool]) -> Callable[[], Probe]:
    """A probe that counts the messages waiting in `queues` (and their kombu priority lists) over a
    fresh Redis connection, so that it sees the server even when the consumer's socket is dead."""
    import redis

    names = [q + suffix for q in queues for suffix in ("", *(f"\x06\x16{p}" for p in (3, 6, 9)))]

    def probe() -> Probe:
        client = redis.Redis.from_url(broker_url, socket_connect_timeout=5, socket_timeout=5)
        try:
            with client.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.llen(name)
                waiting = sum(int(n) for n in pipe.execute())
        except redis.RedisError:
            return Probe(waiting=None, slot_free=slot_free())
        finally:
            client.close()
        return Probe(waiting=waiting, slot_free=slot_free())

    return probe
