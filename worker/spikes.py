"""Spike alerts: a watch suddenly reported widely.

`messages.spikes.<watch>: {articles: N, outlets: M, within: T}`. When, counting the article just
stored, the watch matched at least N distinct reports from at least M distinct outlets within the
last T, one spike alert goes to the watch's channels at once — a spike is the urgent case, so
quiet hours, digests and cooldowns do not hold it — and then none for that watch until T has
passed. Syndicated copies are collapsed first: a report whose text is a near-duplicate
(`stories.near_duplicate`, MinHash of its shingles) of an earlier one is the same report, counted
for the outlet that had it first, so one wire story on ten sites is one report from one outlet.

The counting is pure (`count_reports`). `check_spikes` runs inside the article's transaction after
its story assignment, which holds the store's assignment lock, so two workers never both announce
one spike. A spike is recorded as an alert row of watch id `spike:<watch>` for the triggering
article (unique like every alert, so a repeated task adds nothing) and delivered like an operator
notice, rendering that row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from worker.config import FeedSpec, Settings, SpikeSpec
from worker.outbox import add_deliveries
from worker.schema import alerts
from worker.store import insert_ignore
from worker.stories.index import decode_vector
from worker.stories.schema import story_members
from worker.stories.text import resemblance

SPIKE_PREFIX = "spike:"
_OUTLETS_SHOWN = 10


@dataclass(frozen=True)
class Report:
    """One article that matched the watch: where and when, and its text's MinHash signature."""

    article_id: int
    outlet: str
    at: float
    signature: tuple[int, ...]


@dataclass(frozen=True)
class SpikeCount:
    """Distinct reports (syndicated copies collapsed) and the outlets that had them first."""

    reports: int
    outlets: tuple[str, ...]


def count_reports(reports: Sequence[Report], near_duplicate: float) -> SpikeCount:
    """Collapse near-duplicate texts (oldest first) and count what is left."""
    firsts: list[Report] = []
    for report in sorted(reports, key=lambda r: (r.at, r.article_id)):
        if not any(resemblance(report.signature, f.signature) >= near_duplicate for f in firsts):
            firsts.append(report)
    return SpikeCount(len(firsts), tuple(dict.fromkeys(f.outlet for f in firsts)))


def is_spike(count: SpikeCount, spec: SpikeSpec) -> bool:
    """Whether `count` reaches the watch's spike thresholds."""
    return count.reports >= spec.articles and len(count.outlets) >= spec.outlets


def check_spikes(
    conn: Connection, settings: Settings, article_id: int, alert_ids: Mapping[str, int],
    feed: FeedSpec | None, now: float,
) -> list[int]:
    """Announce the spikes the article just stored completes; the delivery ids to send now."""
    send_now: list[int] = []
    watches = {w.id: w for w in settings.watches}
    for watch_id, alert_id in alert_ids.items():
        spec = settings.messages.spikes.get(watch_id)
        if spec is None or watch_id not in watches:
            continue
        since = now - spec.within
        spike_id = SPIKE_PREFIX + watch_id
        recent = conn.execute(select(alerts.c.id).where(alerts.c.watch_id == spike_id,
                                                        alerts.c.created_at > since).limit(1)).first()
        if recent is not None:
            continue
        count = count_reports(_reports(conn, watch_id, since), settings.stories.near_duplicate)
        if not is_spike(count, spec):
            continue
        watch = watches[watch_id]
        trigger = conn.execute(select(alerts).where(alerts.c.id == alert_id)).one()
        shown = ", ".join(count.outlets[:_OUTLETS_SHOWN]) + (
            f" (+{len(count.outlets) - _OUTLETS_SHOWN} more)" if len(count.outlets) > _OUTLETS_SHOWN else "")
        summary = (f"Spike: {count.reports} reports from {len(count.outlets)} outlets within "
                   f"{_duration(spec.within)} (syndicated copies counted once).\nOutlets: {shown}\n"
                   f"Latest report: {trigger.snippet}")
        ids = insert_ignore(conn, alerts, [{
            "watch_id": spike_id, "watch_title": f"Spike: {watch.title}", "article_id": article_id,
            "score": trigger.score, "snippet": summary, "hits_json": trigger.hits_json,
            "claim": trigger.claim, "created_at": now, "watchlist_version": trigger.watchlist_version,
        }], returning=alerts.c.id)
        if ids:
            channels = list(dict.fromkeys([*watch.channels, *(feed.channels if feed else [])])) \
                or settings.default_channels
            send_now += add_deliveries(conn, settings, ids[0], channels, now, enqueued=True)
    return send_now


def _reports(conn: Connection, watch_id: str, since: float) -> list[Report]:
    rows = conn.execute(
        select(alerts.c.article_id, alerts.c.created_at, story_members.c.source, story_members.c.vector)
        .join(story_members, story_members.c.article_id == alerts.c.article_id)
        .where(alerts.c.watch_id == watch_id, alerts.c.created_at >= since)
    ).all()
    return [Report(r.article_id, r.source, r.created_at, decode_vector(r.vector).signature) for r in rows]


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
