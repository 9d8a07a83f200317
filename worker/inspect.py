"""Read-only views of the store for operators: feed health."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from worker.runtime import Runtime
from worker.schema import EntryState, entries, feeds
from worker.schema import feed_health as health_table


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
