"""Operator notices: what the service tells its operators (a feed failing or recovering, a
watchlist change rejected), kept apart from the news.

A notice is a `notices` row, unique by its `key` (one per event: e.g. a feed's failing episode),
and one outbox row per destination of `health.operator_channels`, sent like any delivery. It has
no article and no alert, so listings of news and backtests never see it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.engine import Connection

from worker.config import Settings
from worker.outbox import add_deliveries
from worker.schema import deliveries, notices
from worker.store import insert_ignore

log = logging.getLogger(__name__)


class NoticeKind(StrEnum):
    """What a notice is about."""

    FEED_HEALTH = "feed_health"
    WATCHLIST = "watchlist"


@dataclass(frozen=True)
class NoticeView:
    """One stored notice; `deliveries`: (label, state, last error)."""

    notice_id: int
    kind: str
    source: str
    title: str
    text: str
    created_at: float
    deliveries: tuple[tuple[str, str, str | None], ...]


def raise_notice(conn: Connection, settings: Settings, key: str, kind: NoticeKind, source: str, title: str,
                 text: str, now: float) -> tuple[int, ...]:
    """Store the notice `key` (once: a repeated call adds nothing) with a pending delivery per
    destination of the operator channels, which the sweeper sends; the delivery ids created."""
    channels = settings.health.operator_channels
    if not channels:
        log.warning("operator notice not sent: health.operator_channels is empty", extra={"notice": key})
        return ()
    ids = insert_ignore(conn, notices, [{"key": key[:200], "kind": str(kind), "source": source[:500],
                                         "title": title, "text": text[:4000], "created_at": now}],
                        returning=notices.c.id)
    if not ids:
        return ()
    return tuple(add_deliveries(conn, settings, None, channels, now, enqueued=False, notice_id=ids[0]))


def recent_notices(conn: Connection, limit: int) -> list[NoticeView]:
    """The `limit` newest notices, newest first, with their deliveries."""
    rows = conn.execute(select(notices).order_by(notices.c.id.desc()).limit(limit)).all()
    sent: dict[int, list[tuple[str, str, str | None]]] = {}
    if rows:
        for d in conn.execute(select(deliveries.c.notice_id, deliveries.c.label, deliveries.c.state,
                                     deliveries.c.last_error)
                              .where(deliveries.c.notice_id.in_([r.id for r in rows]))
                              .order_by(deliveries.c.id)):
            sent.setdefault(d.notice_id, []).append((d.label, d.state, d.last_error))
    return [NoticeView(r.id, r.kind, r.source, r.title, r.text, r.created_at, tuple(sent.get(r.id, ())))
            for r in rows]
