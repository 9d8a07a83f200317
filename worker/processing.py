"""Process stage: one feed entry → article text → watch matches → story → message and outbox rows.

Fetch, extraction and matching run together in one call (performance.md: splitting them across
tasks halves throughput). Everything the call writes — the article, its alerts (one match record
per watch), its story assignment (`worker.stories`), the story's message if it warrants one
(`worker.messages`: one per story, follow-ups on material change), its deliveries and the entry's
`done` state — is committed in one transaction, so a crash either leaves nothing (the redelivered
task redoes it) or everything (the outbox sweeper finishes the sending). The story assignment
holds the story lock until that commit, so two workers with two copies of one story decide one
after the other.

The page fetch holds a slot of each host it contacts (`worker.hosts`; a 429/503 with Retry-After
backs that host off, and the entry falls back to the feed text). When a host stays busy beyond a short
wait, nothing is written except a fresh `enqueued_at`: the entry stays `new` and the sweeper
hands it out again after `delivery.requeue_after_s` (outcome `deferred`), so no worker sleeps
long. A page that cannot be fetched or yields no text falls back to the feed's own text.

Attempts are counted in the store (`entries.attempts`), whatever the broker and however an
attempt ended: an exception or soft time limit (its reason is kept by `entry_error`, which also
ends the processing lease so the sweeper offers the entry again soon), a dead pool process or a
hard time limit (the broker redelivers, or the sweeper re-offers once the lease ends). An entry
that has used `MAX_ATTEMPTS` ends `failed` with the last reason and is never offered again. A
deferral (host busy) is not an attempt.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Row

from worker.article_keys import article_key, page_canonical
from worker.extract import ExtractedText, decode_body, detect_language, extract_page
from worker.hosts import HostBusy, host_pace, limits_for
from worker.matching import WatchMatch
from worker.messages import announce
from worker.net import FetchError, NotModified
from worker.runtime import Runtime
from worker.schema import EntryState, alerts, articles, entries, feeds
from worker.sources import PAGE_ACCEPT, read_source
from worker.spikes import check_spikes
from worker.store import insert_ignore, insert_ignore_rows
from worker.stories.features import StoryInput
from worker.watchlist_versions import refresh as refresh_watchlist

log = logging.getLogger(__name__)

PAGE_HOST_WAIT_S = 5.0  # an article fetch waits this long for a busy host, then is deferred
MAX_ATTEMPTS = 3  # processing attempts of one entry before it ends `failed`
_NO_REASON = "its worker process died each time (crash, memory limit or hard time limit)"


@dataclass(frozen=True)
class ProcessResult:
    """Outcome of one entry: `delivery_ids` are the outbox rows created, to send now."""

    entry_id: int
    outcome: str  # processed | duplicate | done-already | failed-already | deferred | failed | unknown
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
    link = entry.canonical_link or entry.link
    url_key = article_key(link) if link else f"entry:{entry.feed_id}:{entry.key}"
    with rt.engine.begin() as conn:
        existing = conn.execute(select(articles.c.id).where(articles.c.url_key == url_key)).scalar()
        if existing is not None:
            _mark_done(conn, entry_id, existing)
            return ProcessResult(entry_id, "duplicate", existing)
    if not _start_attempt(rt, entry_id):
        return ProcessResult(entry_id, "failed")
    try:
        title, body, lang, origin, note, canonical = _article_text(rt, entry)
    except HostBusy as busy:
        with rt.engine.begin() as conn:
            conn.execute(
                update(entries)
                .where(entries.c.id == entry_id)
                .values(enqueued_at=rt.clock(), processing_until=None,
                        attempts=func.coalesce(entries.c.attempts, 1) - 1)
            )
        log.info("article fetch deferred", extra={"entry_id": entry_id, "reason": str(busy)})
        return ProcessResult(entry_id, "deferred")
    if canonical is not None and article_key(canonical) != url_key:
        # the page names its own canonical URL: the story is known under that key
        url_key = article_key(canonical)
        with rt.engine.begin() as conn:
            existing = conn.execute(select(articles.c.id).where(articles.c.url_key == url_key)).scalar()
            if existing is not None:
                _mark_done(conn, entry_id, existing)
                return ProcessResult(entry_id, "duplicate", existing)
    text = f"{title}\n\n{body}" if title else body
    version = refresh_watchlist(rt)  # the active stored watchlist (a cached look every ~2 s)
    found = rt.matcher.match(text)
    story_input = StoryInput(key=url_key, title=title, text=body, source=outlet(entry.link, entry.feed_name),
                             url=entry.link, lang=lang, published_at=_story_time(rt, entry.published_at))
    features = rt.clusterer.features(story_input)  # CPU work, before the store lock is taken
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
        now = rt.clock()
        titles = {w.id: w.title for w in rt.settings.watches}
        alert_ids = _create_alerts(conn, article_id, found, titles, now, version)
        story = rt.clusterer.assign(conn, replace(story_input, article_id=article_id), now, features)
        feed = rt.feed_spec(entry.feed_name)
        delivery_ids = announce(conn, rt.settings, story, article_id, alert_ids, found, feed, now)
        delivery_ids += check_spikes(conn, rt.settings, article_id, alert_ids, feed, now)
        _mark_done(conn, entry_id, article_id)
    return ProcessResult(
        entry_id, "processed", article_id, tuple(m.watch_id for m in found), tuple(delivery_ids)
    )


def _start_attempt(rt: Runtime, entry_id: int) -> bool:
    """Count one more attempt and hold the processing lease; False (the entry now `failed`) when
    its attempts are used up."""
    with rt.engine.begin() as conn:
        row = conn.execute(
            select(func.coalesce(entries.c.attempts, 0).label("attempts"), entries.c.error).where(
                entries.c.id == entry_id
            )
        ).one()
        if row.attempts >= MAX_ATTEMPTS:
            reason = f"gave up after {row.attempts} attempts: {row.error or _NO_REASON}"
            failed = conn.execute(
                update(entries)
                .where(entries.c.id == entry_id, entries.c.state == EntryState.NEW)
                .values(state=EntryState.FAILED, error=reason[:500])
            ).rowcount
            if failed:
                log.error("entry %d failed: %s", entry_id, reason)
            return False
        conn.execute(
            update(entries)
            .where(entries.c.id == entry_id)
            .values(
                # the sweeper leaves a running attempt alone until the longest a task can run
                processing_until=rt.clock() + rt.settings.service.lease_s,
                attempts=func.coalesce(entries.c.attempts, 0) + 1,
            )
        )
    return True


def entry_error(rt: Runtime, entry_id: int, reason: str) -> None:
    """Record why an attempt failed (an exception) and end its processing lease, so that the
    sweeper offers the entry again after `delivery.requeue_after_s` (until its attempts run out)."""
    with rt.engine.begin() as conn:
        conn.execute(
            update(entries)
            .where(entries.c.id == entry_id, entries.c.state == EntryState.NEW)
            .values(error=reason[:500], enqueued_at=rt.clock(), processing_until=None)
        )


def _article_text(rt: Runtime, entry: Row[Any]) -> tuple[str, str, str, str, str | None, str | None]:
    """(title, body, lang, 'page'|'feed', note, canonical): the page text, or the feed's own text
    when the page cannot be fetched or yields nothing; `canonical` is the URL the page declares
    for itself (`worker.article_keys.page_canonical`), if any."""
    page: ExtractedText | None = None
    note: str | None = None
    canonical: str | None = None
    if entry.link:
        f = rt.settings.fetch
        try:
            got = read_source(
                rt.fetcher,
                entry.link,
                feed=rt.feed_spec(entry.feed_name),
                fetch=f,
                max_bytes=f.page_max_bytes,
                accept=PAGE_ACCEPT,
                pace=host_pace(rt.engine, limits_for(f), wait_s=PAGE_HOST_WAIT_S, retry_after=True),
            )
            if isinstance(got, NotModified):
                note = "page answered 304 to an unconditional request"
            else:
                html = decode_body(got.body, got.charset)
                canonical = page_canonical(html, got.url)
                page = extract_page(html, url=got.url)
                note = None if page else "page had no extractable article text"
        except FetchError as exc:
            note = f"page fetch failed: {exc.reason}"
    else:
        note = "entry has no usable link"
    title = entry.title or (page.title if page and page.title else "")
    if page is not None:
        return title, page.text, page.lang, "page", None, canonical
    body = entry.content or entry.summary
    log.info("using feed text", extra={"entry_id": entry.id, "reason": note})
    return title, body, detect_language(f"{title}\n{body}"), "feed", note, canonical


def outlet(link: str | None, feed_name: str) -> str:
    """The outlet an article counts for in its story: the site of its link (host, and port when
    one is given), else its feed's name — an aggregator feed lists many outlets."""
    try:
        parts = urlsplit(link or "")
        port = parts.port
    except ValueError:
        return feed_name
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return feed_name
    host = parts.hostname.lower().removeprefix("www.")
    return f"{host}:{port}" if port else host


def _story_time(rt: Runtime, published_at: float | None) -> float | None:
    """The time the clustering stage places the article at: its publication time, unless that
    lies more than the story window in the past (a backlog entry, or a wrong date): then its
    arrival (None), so that a backlog processed now is grouped as the service sees it now."""
    if published_at is None or published_at < rt.clock() - rt.settings.stories.window_h * 3600:
        return None
    return published_at


def _create_alerts(
    conn: Connection, article_id: int, found: list[WatchMatch], titles: dict[str, str], now: float,
    version: int | None = None,
) -> dict[str, int]:
    """One match record per watch that fired (the evidence a message shows); watch id → alert id
    of the records inserted now (a record already stored by an earlier attempt is skipped)."""
    rows = [
        {
            "watch_id": match.watch_id,
            "watch_title": titles[match.watch_id],
            "article_id": article_id,
            "score": match.score,
            "snippet": match.snippet,
            "hits_json": json.dumps([h.as_json() for h in match.hits], ensure_ascii=False),
            "claim": str(match.claim),
            "created_at": now,
            "watchlist_version": version,
        }
        for match in found
    ]
    return dict(insert_ignore_rows(conn, alerts, rows, returning=(alerts.c.watch_id, alerts.c.id)))


def fail_entry(rt: Runtime, entry_id: int, reason: str) -> bool:
    """Give up on an entry that is still `new`: it ends `failed` with `reason` and is never offered
    again. False when it was already done or failed."""
    with rt.engine.begin() as conn:
        changed: int = conn.execute(
            update(entries).where(entries.c.id == entry_id, entries.c.state == EntryState.NEW).values(
                state=EntryState.FAILED, error=reason[:500]
            )
        ).rowcount
    if changed:
        log.error("entry %d failed: %s", entry_id, reason)
    return changed == 1


def _mark_done(conn: Connection, entry_id: int, article_id: int) -> None:
    conn.execute(update(entries).where(entries.c.id == entry_id)
                 .values(state=EntryState.DONE, article_id=article_id))
