"""Read-only views of the store for operators: recent alerts with delivery states, feed health."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from worker.runtime import Runtime
from worker.schema import EntryState, alerts, articles, deliveries, entries, feeds
from worker.schema import feed_health as health_table


@dataclass(frozen=True)
class AlertView:
    """One alert and the state of each of its deliveries: (label, state, last error)."""

    alert_id: int
    watch_id: str
    title: str
    source: str
    created_at: float
    deliveries: tuple[tuple[str, str, str | None], ...]


@dataclass(frozen=True)
class FeedHealth:
    """A feed's polling state as stored. `state` is never-polled | ok | retrying (errors, fewer
    than health.failing_after) | failing | silent. `failed_entries`: entries given up for good."""

    name: str
    state: str
    last_success_at: float | None
    last_checked_at: float | None
    next_check_at: float
    error_streak: int
    last_error: str | None
    failed_entries: int = 0


def recent_alerts(rt: Runtime, limit: int) -> list[AlertView]:
    """The `limit` newest alerts, newest first."""
    with rt.engine.connect() as conn:
        rows = conn.execute(
            select(alerts.c.id, alerts.c.watch_id, alerts.c.created_at, articles.c.title, articles.c.source)
            .join(articles, articles.c.id == alerts.c.article_id)
            .order_by(alerts.c.id.desc())
            .limit(limit)
        ).all()
        out = []
        for row in rows:
            states = conn.execute(
                select(deliveries.c.label, deliveries.c.state, deliveries.c.last_error)
                .where(deliveries.c.alert_id == row.id)
                .order_by(deliveries.c.id)
            ).all()
            out.append(
                AlertView(
                    row.id,
                    row.watch_id,
                    row.title,
                    row.source,
                    row.created_at,
                    tuple((s.label, s.state, s.last_error) for s in states),
                )
            )
    return out


def feed_health(rt: Runtime) -> list[FeedHealth]:
    """Every configured feed's state, in configuration order (never-polled feeds included)."""
    with rt.engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(select(feeds)).all()}
        health = {
            r.feed_id: r.state for r in conn.execute(select(health_table.c.feed_id, health_table.c.state))
        }
        failed: dict[int, int] = {
            row.feed_id: row.n
            for row in conn.execute(
                select(entries.c.feed_id, func.count().label("n"))
                .where(entries.c.state == EntryState.FAILED)
                .group_by(entries.c.feed_id)
            )
        }
    out = []
    for spec in rt.settings.feeds:
        r = rows.get(spec.name)
        if r is None or r.last_checked_at is None:
            out.append(FeedHealth(spec.name, "never-polled", None, None, 0.0, 0, None))
            continue
        state = health.get(r.id, "ok")
        if state == "ok" and r.error_streak:
            state = "retrying"
        out.append(
            FeedHealth(
                spec.name,
                state,
                r.last_success_at,
                r.last_checked_at,
                r.next_check_at,
                r.error_streak,
                r.last_error,
                failed.get(r.id, 0),
            )
        )
    return out
