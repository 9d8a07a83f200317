"""What the dashboard shows, read from the store in a few bounded queries per page.

Every function takes a read-only connection and returns plain dicts/rows for the templates.
Tables that a newer release adds (`messages`, and `deliveries.message_id`) are looked up in the
database and read only when present, so the dashboard runs against any store it is pointed at.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, Table, func, inspect, select
from sqlalchemy.engine import Connection, Engine

from worker.config import Settings
from worker.schema import alerts, articles, deliveries, entries, feeds
from worker.schema import feed_health as health_table
from worker.stories.schema import stories, story_members

DAY_S = 86_400.0


@dataclass(frozen=True)
class OptionalTables:
    """Tables found in the store that this release's schema may not define."""

    messages: Table | None


def optional_tables(engine: Engine) -> OptionalTables:
    """Reflect the optional tables that exist in the store (once, at start-up)."""
    names = set(inspect(engine).get_table_names())
    messages = Table("messages", MetaData(), autoload_with=engine) if "messages" in names else None
    return OptionalTables(messages=messages)


def _deliveries_by_alert(conn: Connection, alert_ids: list[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    if alert_ids:
        rows = conn.execute(
            select(deliveries).where(deliveries.c.alert_id.in_(alert_ids)).order_by(deliveries.c.id)
        ).all()
        for row in rows:
            out[row.alert_id].append(row)
    return out


def _deliveries_by_message(conn: Connection, message_ids: list[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    column = deliveries.c.get("message_id")
    if column is not None and message_ids:
        for row in conn.execute(select(deliveries).where(column.in_(message_ids)).order_by(deliveries.c.id)):
            out[row.message_id].append(row)
    return out


def _story_by_article(conn: Connection, article_ids: list[int]) -> dict[int, int]:
    if not article_ids:
        return {}
    rows = conn.execute(
        select(story_members.c.article_id, story_members.c.story_id).where(
            story_members.c.article_id.in_(article_ids)
        )
    ).all()
    return {r.article_id: r.story_id for r in rows}


def recent_alerts(conn: Connection, limit: int = 50, watch_id: str | None = None) -> list[dict[str, Any]]:
    """The newest alerts (of one watch, if given) with their article, story and deliveries."""
    query = (
        select(
            alerts,
            articles.c.title,
            articles.c.source,
            articles.c.lang,
            articles.c.url,
        )
        .join(articles, articles.c.id == alerts.c.article_id)
        .order_by(alerts.c.id.desc())
        .limit(limit)
    )
    if watch_id is not None:
        query = query.where(alerts.c.watch_id == watch_id)
    rows = conn.execute(query).all()
    sent = _deliveries_by_alert(conn, [r.id for r in rows])
    story = _story_by_article(conn, [r.article_id for r in rows])
    return [
        {"row": r, "deliveries": sent.get(r.id, []), "story_id": story.get(r.article_id)} for r in rows
    ]


def summary(conn: Connection) -> dict[str, Any]:
    """Counts for the dashboard's header: alerts by outlet and language, deliveries by state."""

    def counts(*columns: Any, table: Any = alerts) -> list[Any]:
        q = select(*columns, func.count().label("n")).select_from(table).group_by(*columns)
        return list(conn.execute(q.order_by(func.count().desc())).all())

    joined = alerts.join(articles, articles.c.id == alerts.c.article_id)
    return {
        "outlets": counts(articles.c.source, table=joined),
        "languages": counts(articles.c.lang, table=joined),
        "delivery_states": counts(deliveries.c.state, table=deliveries),
        "articles": conn.execute(select(func.count()).select_from(articles)).scalar_one(),
        "stories": conn.execute(select(func.count()).select_from(stories)).scalar_one(),
    }


def recent_stories(conn: Connection, opt: OptionalTables, limit: int = 30) -> list[dict[str, Any]]:
    """The most recently active stories, each with its articles, watches and messages."""
    rows = conn.execute(select(stories).order_by(stories.c.last_seen_at.desc()).limit(limit)).all()
    ids = [r.id for r in rows]
    members: dict[int, list[Any]] = defaultdict(list)
    watches: dict[int, set[str]] = defaultdict(set)
    messages: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        for m in conn.execute(
            select(story_members).where(story_members.c.story_id.in_(ids)).order_by(story_members.c.at)
        ):
            members[m.story_id].append(m)
        for a in conn.execute(
            select(story_members.c.story_id, alerts.c.watch_id)
            .join(alerts, alerts.c.article_id == story_members.c.article_id)
            .where(story_members.c.story_id.in_(ids))
        ):
            watches[a.story_id].add(a.watch_id)
        if opt.messages is not None and "story_id" in opt.messages.c:
            table = opt.messages
            found = conn.execute(select(table).where(table.c.story_id.in_(ids)).order_by(table.c.id)).all()
            sent = _deliveries_by_message(conn, [m.id for m in found])
            for msg in found:
                messages[msg.story_id].append({"row": dict(msg._mapping), "deliveries": sent.get(msg.id, [])})
    return [
        {
            "row": r,
            "members": members.get(r.id, []),
            "watches": sorted(watches.get(r.id, set())),
            "messages": messages.get(r.id, []),
        }
        for r in rows
    ]


def article(conn: Connection, article_id: int) -> dict[str, Any] | None:
    """One article with every alert on it, each alert's hits and deliveries, and its story."""
    row = conn.execute(select(articles).where(articles.c.id == article_id)).first()
    if row is None:
        return None
    found = conn.execute(
        select(alerts).where(alerts.c.article_id == article_id).order_by(alerts.c.score.desc())
    ).all()
    sent = _deliveries_by_alert(conn, [a.id for a in found])
    member = conn.execute(select(story_members).where(story_members.c.article_id == article_id)).first()
    feed_rows = conn.execute(
        select(feeds.c.name, entries.c.title, entries.c.seen_at)
        .join(feeds, feeds.c.id == entries.c.feed_id)
        .where(entries.c.article_id == article_id)
    ).all()
    return {
        "row": row,
        "alerts": [{"row": a, "hits": _hits(a.hits_json), "deliveries": sent.get(a.id, [])} for a in found],
        "member": member,
        "why": _json_or_none(member.why) if member is not None else None,
        "listed_by": feed_rows,
    }


def _pairs(conn: Connection, query: Any) -> dict[Any, Any]:
    return {row[0]: row[1] for row in conn.execute(query)}


def _hits(raw: str) -> list[dict[str, Any]]:
    hits = _json_or_none(raw)
    return [h for h in hits if isinstance(h, dict)] if isinstance(hits, list) else []


def _json_or_none(raw: str | None) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def feed_health(conn: Connection, settings: Settings, now: float) -> list[dict[str, Any]]:
    """Every configured feed (and stored feeds no longer configured) with its polling state."""
    stored = {r.name: r for r in conn.execute(select(feeds)).all()}
    health = {r.feed_id: r for r in conn.execute(select(health_table)).all()}
    failed = _pairs(
        conn,
        select(entries.c.feed_id, func.count())
        .where(entries.c.state == "failed")
        .group_by(entries.c.feed_id),
    )
    names = [f.name for f in settings.feeds] + sorted(set(stored) - {f.name for f in settings.feeds})
    out = []
    for name in names:
        r = stored.get(name)
        h = health.get(r.id) if r is not None else None
        if r is None or r.last_checked_at is None:
            state = "never-polled"
        else:
            state = h.state if h is not None else "ok"
            if state == "ok" and r.error_streak:
                state = "retrying"
        out.append(
            {
                "name": name,
                "configured": any(f.name == name for f in settings.feeds),
                "state": state,
                "row": r,
                "health": h,
                "failed_entries": failed.get(r.id, 0) if r is not None else 0,
                "backoff_s": max(0.0, r.next_check_at - now) if r is not None else None,
            }
        )
    return out


def watches(conn: Connection, settings: Settings, now: float, days: int = 14) -> list[dict[str, Any]]:
    """Every configured watch with its alerts per UTC day over the last `days` and its newest alert."""
    since = (now // DAY_S - days + 1) * DAY_S
    per_day: dict[str, dict[int, int]] = defaultdict(dict)
    day = func.floor(alerts.c.created_at / DAY_S)
    for r in conn.execute(
        select(alerts.c.watch_id, day.label("day"), func.count().label("n"))
        .where(alerts.c.created_at >= since)
        .group_by(alerts.c.watch_id, day)
    ):
        per_day[r.watch_id][int(r.day)] = r.n
    totals = _pairs(conn, select(alerts.c.watch_id, func.count()).group_by(alerts.c.watch_id))
    last = _pairs(conn, select(alerts.c.watch_id, func.max(alerts.c.created_at)).group_by(alerts.c.watch_id))
    first_day = int(since // DAY_S)
    return [
        {
            "spec": w,
            "total": totals.get(w.id, 0),
            "last_at": last.get(w.id),
            "days": [(d * DAY_S, per_day[w.id].get(d, 0)) for d in range(first_day, first_day + days)],
        }
        for w in settings.watches
    ]
