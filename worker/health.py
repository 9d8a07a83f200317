"""Feed health episodes and operator notices.

After every poll, `observe` compares the feed's state with its stored health:
- `failing`: `error_streak` reached `health.failing_after`;
- `silent`: polls succeed but no new entry was stored for `health.silent_after_s`;
- `ok`: the last poll succeeded and the feed is not silent.
Between those (a few errors, fewer than `failing_after`) the stored state is kept. A feed
recovering from `failing` is `ok` and its silence is measured from then on.

Entering `failing` or `silent` opens a new episode and raises ONE notice; returning to `ok`
raises ONE recovery notice for that episode. The transition is a conditional UPDATE, and a notice
is an ordinary alert (watch id `_feed_health`, on a synthetic article whose key names the feed,
kind and episode) with one outbox row per destination of `health.operator_channels`, written in
the same transaction — so it goes through `send_delivery` and the sweeper like any alert, and
the unique keys make it exactly-once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import select, update

from worker.config import HealthSpec
from worker.notices import NoticeKind, raise_notice
from worker.runtime import Runtime
from worker.schema import feed_health, feeds
from worker.store import insert_ignore

log = logging.getLogger(__name__)

NOTICE_KEY_PREFIX = "_feed_health:"


def observe(rt: Runtime, feed_id: int, *, new_entries: int) -> tuple[int, ...]:
    """Record a poll's effect on the feed's health; returns the notice deliveries created."""
    now = rt.clock()
    cfg = rt.settings.health
    with rt.engine.begin() as conn:
        feed = conn.execute(select(feeds).where(feeds.c.id == feed_id)).one()
        insert_ignore(
            conn,
            feed_health,
            [{"feed_id": feed_id, "state": "ok", "episode": 0, "changed_at": now, "last_new_at": now}],
            returning=feed_health.c.feed_id,
        )
        if new_entries:
            conn.execute(update(feed_health).where(feed_health.c.feed_id == feed_id).values(last_new_at=now))
        health = conn.execute(select(feed_health).where(feed_health.c.feed_id == feed_id)).one()
        wanted = _wanted(cfg, feed.error_streak, health.state, health.last_new_at, now)
        if wanted is None or wanted == health.state:
            return ()
        episode = health.episode if wanted == "ok" else health.episode + 1
        moved = conn.execute(
            update(feed_health)
            .where(
                feed_health.c.feed_id == feed_id,
                feed_health.c.state == health.state,
                feed_health.c.episode == health.episode,
            )
            .values(
                state=wanted,
                episode=episode,
                changed_at=now,
                last_new_at=now if health.state == "failing" else health.last_new_at,
            )
        ).rowcount
        if moved != 1:
            return ()
        kind = "recovered" if wanted == "ok" else wanted
        title, text = _wording(rt, feed.name, kind, health.state, feed, health.last_new_at, now)
        log.warning("feed health: %s", title, extra={"feed": feed.name, "episode": episode})
        key = f"{NOTICE_KEY_PREFIX}{feed.name}:{kind}:{episode}"
        return raise_notice(conn, rt.settings, key, NoticeKind.FEED_HEALTH, feed.name, title, text, now)


def observe_polls(rt: Runtime, polls: Mapping[int, tuple[int, int]]) -> None:
    """`observe` for a batch of polls (feed id -> (error streak after the poll, new entries)):
    one read of their health rows, then the full `observe` only where something changes (the
    state, new entries, no health row yet), which is rare: most polls change nothing."""
    if not polls:
        return
    now, cfg = rt.clock(), rt.settings.health
    with rt.engine.connect() as conn:
        found = conn.execute(select(feed_health).where(feed_health.c.feed_id.in_(list(polls))))
        rows = {r.feed_id: r for r in found}
    for feed_id, (streak, new_entries) in polls.items():
        health = rows.get(feed_id)
        moves = health is None or _wanted(cfg, streak, health.state, health.last_new_at, now) not in (
            None,
            health.state,
        )
        if new_entries or moves:
            observe(rt, feed_id, new_entries=new_entries)


def _wanted(cfg: HealthSpec, error_streak: int, state: str, last_new_at: float, now: float) -> str | None:
    """The health state a feed should be in, or None to keep the stored one (a few errors)."""
    if error_streak >= cfg.failing_after:
        return "failing"
    if error_streak == 0:
        # a feed that was down is not "silent": its silence is measured from its recovery
        silent = state != "failing" and now - last_new_at >= cfg.silent_after_s
        return "silent" if silent else "ok"
    return None


def _wording(
    rt: Runtime, name: str, kind: str, before: str, feed: object, last_new_at: float, now: float
) -> tuple[str, str]:
    streak = getattr(feed, "error_streak", 0)
    reason = getattr(feed, "last_error", None) or "unknown"
    success = _when(getattr(feed, "last_success_at", None))
    if kind == "failing":
        return (
            f"feed {name} is failing ({streak} consecutive errors)",
            f"Feed {name} failed {streak} times in a row. Last error: {reason}. Last success: {success}. "
            "newswatch keeps retrying with backoff; you will get one notice when it recovers.",
        )
    if kind == "silent":
        days = (now - last_new_at) / 86_400
        return (
            f"feed {name} has gone silent",
            f"Feed {name} answers but has published no new entry for {days:.1f} days "
            f"(since {_when(last_new_at)}). Check that the feed URL is still the right one.",
        )
    return (
        f"feed {name} has recovered",
        f"Feed {name} is healthy again (it was {before}). Last success: {success}.",
    )


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "never"
