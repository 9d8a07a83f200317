"""`newswatch feeds audit`: the numbers that decide whether push ingestion (WebSub) is worth building.

Per configured feed: the WebSub hub its last parsed fetch advertised (`feeds.hub_url`, set by the
poll stage from `<link rel="hub">`, `<atom:link rel="hub">` or an HTTP `Link: <…>; rel="hub"`
header), the median publish-to-seen delay of its entries first seen in the last `days` (only dated
entries; entries stored on the feed's first poll are its backlog, not a delay, and are left out),
and its 304 ratio: successful polls answered 304 Not Modified over all successful polls (counted by
the poll stage since the columns exist).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from worker.schema import entries, feeds

_DAY_S = 86_400.0


@dataclass(frozen=True)
class FeedAudit:
    """One feed's audit. `median_delay_s` is None when no dated entry was seen in the window;
    `not_modified_ratio` is None before the first successful poll."""

    feed: str
    hub: str | None
    median_delay_s: float | None
    dated_entries: int  # entries the median is over
    undated_entries: int  # entries in the window without a publication date (left out)
    polls: int  # successful polls (fetched, unchanged or 304)
    polls_not_modified: int

    @property
    def not_modified_ratio(self) -> float | None:
        """Polls answered 304 / successful polls."""
        return self.polls_not_modified / self.polls if self.polls else None

    def as_json(self) -> dict[str, object]:
        """The JSON object `feeds audit --json` prints."""
        return {
            "feed": self.feed,
            "hub": self.hub,
            "median_delay_s": self.median_delay_s,
            "dated_entries": self.dated_entries,
            "undated_entries": self.undated_entries,
            "polls": self.polls,
            "polls_not_modified": self.polls_not_modified,
            "not_modified_ratio": self.not_modified_ratio,
        }

    def line(self) -> str:
        """One human-readable line."""
        delay = "-" if self.median_delay_s is None else duration(self.median_delay_s)
        ratio = self.not_modified_ratio
        shown = "-" if ratio is None else f"{100 * ratio:.1f}%"
        return (
            f"{self.feed:24} hub {self.hub or '-'}  median delay {delay} "
            f"({self.dated_entries} dated, {self.undated_entries} undated)  "
            f"304 {self.polls_not_modified}/{self.polls} ({shown})"
        )


def audit_feeds(engine: Engine, names: Sequence[str], *, now: float, days: float) -> list[FeedAudit]:
    """Audit the feeds called `names`, in that order (a feed never polled shows zeros)."""
    since = now - days * _DAY_S
    out: list[FeedAudit] = []
    with engine.connect() as conn:
        rows = {r.name: r for r in conn.execute(select(feeds).where(feeds.c.name.in_(list(names))))}
        for name in names:
            row = rows.get(name)
            if row is None:
                out.append(FeedAudit(name, None, None, 0, 0, 0, 0))
                continue
            first_poll = conn.execute(
                select(func.min(entries.c.seen_at)).where(entries.c.feed_id == row.id)
            ).scalar()
            seen = conn.execute(
                select(entries.c.published_at, entries.c.seen_at).where(
                    entries.c.feed_id == row.id, entries.c.seen_at >= since, entries.c.seen_at > first_poll
                )
            ).all() if first_poll is not None else []
            delays = [s.seen_at - s.published_at for s in seen if s.published_at is not None]
            out.append(
                FeedAudit(
                    feed=name,
                    hub=row.hub_url,
                    median_delay_s=statistics.median(delays) if delays else None,
                    dated_entries=len(delays),
                    undated_entries=len(seen) - len(delays),
                    polls=row.polls or 0,
                    polls_not_modified=row.polls_not_modified or 0,
                )
            )
    return out


def duration(seconds: float) -> str:
    """A short duration: 45s, 12m30s, 3h05m, 2d04h (negative for entries dated in the future)."""
    sign, s = ("-", -seconds) if seconds < 0 else ("", seconds)
    whole = int(round(s))
    if whole < 60:
        return f"{sign}{whole}s"
    if whole < 3600:
        return f"{sign}{whole // 60}m{whole % 60:02d}s"
    if whole < 86_400:
        return f"{sign}{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{sign}{whole // 86_400}d{whole % 86_400 // 3600:02d}h"
