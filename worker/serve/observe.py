"""`/metrics` and `/readyz`: what the store says, computed at scrape time, plus the workers' files.

Cluster-wide values come from the store, so every scrape of any `serve` sees the same numbers
whichever workers run where. Per-process counters and histograms (worker/metrics.py) are merged
from the multiprocess directory by `prometheus_client`'s own collector.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from worker.config import Settings
from worker.heartbeat import last_tick
from worker.schema import DeliveryState, alerts, articles, deliveries, entries
from worker.serve import queries
from worker.stories.schema import stories
from worker.watchlist_versions import active_version, latest_rejection, rejections_count

FEED_STATES = ("never-polled", "ok", "retrying", "failing", "silent")
DELIVERY_STATES = tuple(str(s) for s in DeliveryState)


class StoreCollector(Collector):
    """Gauges read from the store on every scrape (one short read-only transaction)."""

    def __init__(self, engine: Engine, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.engine, self.settings, self.clock = engine, settings, clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        with self.engine.connect() as conn:
            yield from self._feeds(conn, now)
            yield from self._outbox(conn, now)
            waiting = conn.execute(
                select(func.count()).select_from(entries).where(entries.c.state == "new")
            ).scalar_one()
            yield GaugeMetricFamily(
                "newswatch_entries_waiting", "Feed entries stored and not yet processed", value=waiting
            )
            for name, table, text in (
                ("newswatch_articles", articles, "Articles stored"),
                ("newswatch_alerts", alerts, "Alerts stored (one per watch and article)"),
                ("newswatch_stories", stories, "Stories (real-world events) stored"),
            ):
                count = conn.execute(select(func.count()).select_from(table)).scalar_one()
                yield GaugeMetricFamily(name, text, value=count)
            yield from self._watchlist(conn)
            tick = last_tick(conn)
            if tick is not None:
                yield GaugeMetricFamily(
                    "newswatch_scheduler_last_tick_timestamp_seconds",
                    "Unix time of the scheduler's last recorded run",
                    value=tick,
                )

    def _watchlist(self, conn: Connection) -> Iterator[Metric]:
        version = active_version(conn)
        if version is not None:
            yield GaugeMetricFamily("newswatch_watchlist_version", "Id of the watchlist version in force",
                                    value=version)
        yield GaugeMetricFamily(
            "newswatch_watchlist_rejected",
            "1 while the configuration file last looked at is a rejected one (see the banner)",
            value=1 if latest_rejection(conn) else 0)
        yield CounterMetricFamily(
            "newswatch_watchlist_rejections",
            "Distinct configuration files whose watchlist change was rejected",
            value=rejections_count(conn))

    def _feeds(self, conn: Connection, now: float) -> Iterator[Metric]:
        by_state = dict.fromkeys(FEED_STATES, 0)
        for feed in queries.feed_health(conn, self.settings, now):
            if feed["configured"]:
                by_state[feed["state"]] = by_state.get(feed["state"], 0) + 1
        family = GaugeMetricFamily("newswatch_feeds", "Configured feeds by health state", labels=["state"])
        for state, n in by_state.items():
            family.add_metric([state], n)
        yield family

    def _outbox(self, conn: Connection, now: float) -> Iterator[Metric]:
        counts = dict.fromkeys(DELIVERY_STATES, 0)
        for state, n in conn.execute(
            select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
        ).all():
            counts[str(state)] = int(n)
        family = GaugeMetricFamily("newswatch_deliveries", "Outbox deliveries by state", labels=["state"])
        for state, n in counts.items():
            family.add_metric([state], n)
        yield family
        oldest = conn.execute(
            select(func.min(deliveries.c.created_at)).where(deliveries.c.state.in_(("pending", "sending")))
        ).scalar_one()
        yield GaugeMetricFamily(
            "newswatch_outbox_oldest_pending_age_seconds",
            "Age of the oldest delivery not yet sent or given up (0 when none)",
            value=max(0.0, now - oldest) if oldest is not None else 0.0,
        )


def scrape(engine: Engine, settings: Settings, multiprocess_dir: Path) -> bytes:
    """The Prometheus text exposition of the store gauges and the workers' counters."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(engine, settings))
    if multiprocess_dir.is_dir():
        MultiProcessCollector(registry, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
    return generate_latest(registry)


@dataclass(frozen=True)
class Readiness:
    """The result of `/readyz`: ready when every check passed; `checks` says each one's result."""

    ready: bool
    checks: dict[str, str]


def readiness(engine: Engine, settings: Settings, now: float) -> Readiness:
    """Store reachable, scheduler ticked within `serve.tick_stale_s`, and no work that has been
    due for longer than `serve.stall_after_s` (a consumer that stopped taking messages)."""
    spec = settings.serve
    checks: dict[str, str] = {}
    try:
        with engine.connect() as conn:
            conn.execute(select(1)).scalar_one()
            checks["store"] = "ok"
            tick = last_tick(conn)
            if tick is None:
                checks["scheduler"] = "no tick recorded"
            elif now - tick > spec.tick_stale_s:
                checks["scheduler"] = f"last tick {now - tick:.0f} s ago (limit {spec.tick_stale_s:.0f} s)"
            else:
                checks["scheduler"] = "ok"
            checks["consumers"] = _stall(conn, now - spec.stall_after_s)
    except Exception as exc:  # noqa: BLE001 - any store failure is "not ready", with its reason
        checks["store"] = f"unreachable: {type(exc).__name__}"
    return Readiness(ready=all(v == "ok" for v in checks.values()) and "store" in checks, checks=checks)


def _stall(conn: Connection, cutoff: float) -> str:
    due = conn.execute(
        select(func.count())
        .select_from(deliveries)
        .where(deliveries.c.state == "pending", deliveries.c.next_attempt_at < cutoff)
    ).scalar_one()
    waiting = conn.execute(
        select(func.count()).select_from(entries).where(entries.c.state == "new", entries.c.seen_at < cutoff)
    ).scalar_one()
    if due or waiting:
        return f"stalled: {due} delivery(ies) and {waiting} entr(ies) due and untouched"
    return "ok"
