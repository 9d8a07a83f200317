"""Process stage: one feed entry → article text → watch matches → alerts and outbox rows.

Fetch, extraction and matching run together in one call (performance.md: splitting them across
tasks halves throughput). Everything the call writes — the article, its alerts, their deliveries
and the entry's `done` state — is committed in one transaction, so a crash either leaves nothing
(the redelivered task redoes it) or everything (the outbox sweeper finishes the sending).

The page fetch holds a per-host slot (`worker.hosts`). When the host stays busy beyond a short
wait, nothing is written except a fresh `enqueued_at`: the entry stays `new` and the sweeper
hands it out again after `delivery.requeue_after_s` (outcome `deferred`), so no worker sleeps
long. A page that cannot be fetched or yields no text falls back to the feed's own text. An entry
whose processing keeps killing its worker process ends `failed` (`fail_entry`), never re-offered.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Row

from worker.extract import ExtractedText, decode_body, detect_language, extract_page
from worker.hosts import HostBusy, host_slot, limits_for
from worker.matching import WatchMatch
from worker.net import FetchError, NotModified
from worker.outbox import add_deliveries
from worker.runtime import Runtime
from worker.schema import alerts, articles, entries, feeds
from worker.sources import PAGE_ACCEPT, read_source
from worker.store import insert_ignore

log = logging.getLogger(__name__)

PAGE_HOST_WAIT_S = 5.0  # an article fetch waits this long for a busy host, then is deferred
# While an entry is being processed the sweeper must not hand it out again: processing holds it
# this long (the task's hard time limit), after which a crashed attempt is re-enqueued.
PROCESS_LEASE_S = 120.0


@dataclass(frozen=True)
class ProcessResult:
    """Outcome of one entry: `delivery_ids` are the outbox rows created, to send now."""

    entry_id: int
    outcome: str  # processed | duplicate | done-already | failed-already | deferred | unknown
    article_id: int | None = None
    watches: tuple[str, ...] = ()
    delivery_ids: tuple[int, ...] = ()


def process_entry(rt: Runtime, entry_id: int) -> ProcessResult:
    """Fetch, extract and match one stored entry; safe to run twice."""
    with rt.engine.connect() as conn:
        entry = conn.execute(
            select(entries, feeds.c.name.label("feed_name"))
            .join(feeds, feeds.c.id == entries.c.feed_id)
            .where(entries.c.id == entry_id)
        ).one_or_none()
    if entry is None:
        return ProcessResult(entry_id, "unknown")
    if entry.state != "new":
        return ProcessResult(entry_id, f"{entry.state}-already", entry.article_id)
    url_key = entry.canonical_link or f"entry:{entry.feed_id}:{entry.key}"
    with rt.engine.begin() as conn:
        existing = conn.execute(select(articles.c.id).where(articles.c.url_key == url_key)).scalar()
        if existing is not None:
            _mark_done(conn, entry_id, existing)
            return ProcessResult(entry_id, "duplicate", existing)
    with rt.engine.begin() as conn:
        conn.execute(
            update(entries).where(entries.c.id == entry_id).values(enqueued_at=rt.clock() + PROCESS_LEASE_S)
        )
    try:
        title, body, lang, origin, note = _article_text(rt, entry)
    except HostBusy as busy:
        with rt.engine.begin() as conn:
            conn.execute(update(entries).where(entries.c.id == entry_id).values(enqueued_at=rt.clock()))
        log.info("article fetch deferred", extra={"entry_id": entry_id, "reason": str(busy)})
        return ProcessResult(entry_id, "deferred")
    text = f"{title}\n\n{body}" if title else body
    found = rt.matcher.match(text)
    with rt.engine.begin() as conn:
        ids = insert_ignore(
            conn,
            articles,
            [
                {
                    "url_key": url_key,
                    "url": entry.link,
                    "source": entry.feed_name,
                    "title": title,
                    "text": body,
                    "lang": lang,
                    "extracted_from": origin,
                    "extract_note": note,
                    "published_at": entry.published_at,
                    "processed_at": rt.clock(),
                }
            ],
            returning=articles.c.id,
        )
        if not ids:  # another worker stored the same story a moment ago
            other = conn.execute(select(articles.c.id).where(articles.c.url_key == url_key)).scalar_one()
            _mark_done(conn, entry_id, other)
            return ProcessResult(entry_id, "duplicate", other)
        article_id = ids[0]
        delivery_ids = _create_alerts(rt, conn, article_id, entry.feed_name, found)
        _mark_done(conn, entry_id, article_id)
    return ProcessResult(
        entry_id, "processed", article_id, tuple(m.watch_id for m in found), tuple(delivery_ids)
    )


def _article_text(rt: Runtime, entry: Row[Any]) -> tuple[str, str, str, str, str | None]:
    """(title, body, lang, 'page'|'feed', note): the page text, or the feed's own text when the
    page cannot be fetched or yields nothing."""
    page: ExtractedText | None = None
    note: str | None = None
    if entry.link:
        f = rt.settings.fetch
        try:
            with host_slot(rt.engine, entry.link, limits_for(f), wait_s=PAGE_HOST_WAIT_S):
                got = read_source(
                    rt.fetcher,
                    entry.link,
                    feed=rt.feed_spec(entry.feed_name),
                    fetch=f,
                    max_bytes=f.page_max_bytes,
                    accept=PAGE_ACCEPT,
                )
            if isinstance(got, NotModified):
                note = "page answered 304 to an unconditional request"
            else:
                page = extract_page(decode_body(got.body, got.charset), url=got.url)
                note = None if page else "page had no extractable article text"
        except FetchError as exc:
            note = f"page fetch failed: {exc.reason}"
    else:
        note = "entry has no usable link"
    title = entry.title or (page.title if page and page.title else "")
    if page is not None:
        return title, page.text, page.lang, "page", None
    body = entry.content or entry.summary
    log.info("using feed text", extra={"entry_id": entry.id, "reason": note})
    return title, body, detect_language(f"{title}\n{body}"), "feed", note


def _create_alerts(
    rt: Runtime, conn: Connection, article_id: int, feed_name: str, found: list[WatchMatch]
) -> list[int]:
    now = rt.clock()
    spec = rt.feed_spec(feed_name)
    watches = {w.id: w for w in rt.settings.watches}
    delivery_ids: list[int] = []
    for match in found:
        watch = watches[match.watch_id]
        alert_ids = insert_ignore(
            conn,
            alerts,
            [
                {
                    "watch_id": watch.id,
                    "watch_title": watch.title,
                    "article_id": article_id,
                    "score": match.score,
                    "snippet": match.snippet,
                    "hits_json": json.dumps([asdict(h) for h in match.hits], ensure_ascii=False),
                    "created_at": now,
                }
            ],
            returning=alerts.c.id,
        )
        if not alert_ids:
            continue
        channels = [*watch.channels, *(spec.channels if spec else [])] or rt.settings.default_channels
        delivery_ids += add_deliveries(conn, rt.settings, alert_ids[0], channels, now, enqueued=True)
    return delivery_ids


def fail_entry(rt: Runtime, entry_id: int, reason: str) -> bool:
    """Give up on an entry that is still `new`: it ends `failed` with `reason` and is never offered
    again. False when it was already done or failed."""
    with rt.engine.begin() as conn:
        changed: int = conn.execute(
            update(entries).where(entries.c.id == entry_id, entries.c.state == "new").values(
                state="failed", error=reason[:500]
            )
        ).rowcount
    if changed:
        log.error("entry %d failed: %s", entry_id, reason)
    return changed == 1


def _mark_done(conn: Connection, entry_id: int, article_id: int) -> None:
    conn.execute(update(entries).where(entries.c.id == entry_id).values(state="done", article_id=article_id))
