"""Politeness holds for the host actually contacted: an article page's 429/503 Retry-After backs
that host off for every later request (pages and feeds), and a redirect hop to another host takes
that host's slot and spacing (real loopback servers on two addresses, a store shared by all)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.net.servers import ScriptServer, redirect, respond, serve
from tests.polite.support import feed_id, rss, runtime
from worker.hosts import HostLimits, acquire, release
from worker.polling import poll_feed, sync_feeds
from worker.processing import process_entry
from worker.runtime import Runtime
from worker.schema import articles, entries, host_pacing

pytestmark = [pytest.mark.timeout(60), pytest.mark.allow_hosts(["127.0.0.1", "127.0.0.2", "::1"])]
PAGE = b"<html><body><article><p>" + b"A page about the story. " * 30 + b"</p></article></body></html>"
HTML = [("Content-Type", "text/html; charset=utf-8")]


def _feed(server: ScriptServer, links: list[str]) -> bytes:
    return rss(
        [
            {"guid": f"g{i}", "title": f"story {i}", "link": link, "description": "feed text"}
            for i, link in enumerate(links)
        ]
    )


def _rt(tmp_path: Path, server: ScriptServer, spacing: float = 0.0) -> Runtime:
    feeds_ = [{"name": "f", "url": server.url("/feed.xml"), "allow_hosts": ["127.0.0.0/8"], "interval": 60}]
    rt = runtime(
        tmp_path, feeds_=feeds_, extra={"fetch": {"per_host_spacing_s": spacing, "per_host_concurrency": 2}}
    )
    sync_feeds(rt)
    return rt


@pytest.mark.parametrize("status", [429, 503])
def test_a_page_retry_after_backs_the_host_off(tmp_path: Path, status: int) -> None:
    routes = {
        "/slow-down.html": respond(status, b"busy", [("Retry-After", "600")]),
        "/next.html": respond(200, PAGE, HTML),
    }
    server = serve(routes)
    try:
        routes["/feed.xml"] = respond(
            200, _feed(server, [server.url("/slow-down.html"), server.url("/next.html")])
        )
        rt = _rt(tmp_path, server)
        first, second = poll_feed(rt, feed_id(rt, "f")).new_entry_ids
        began = time.time()
        assert process_entry(rt, first).outcome == "processed"  # with the feed's own text
        with rt.engine.connect() as conn:
            until = conn.execute(
                select(host_pacing.c.next_start_at).where(host_pacing.c.host == "127.0.0.1")
            ).scalar_one()
            note = conn.execute(select(articles.c.extract_note)).scalar_one()
        assert str(status) in note
        assert began + 590 <= until <= time.time() + 600
        requests_before = len(server.requests)
        assert process_entry(rt, second).outcome == "deferred"  # no request inside the back-off
        assert poll_feed(rt, feed_id(rt, "f")).outcome == "deferred"
        assert len(server.requests) == requests_before
        with rt.engine.connect() as conn:
            assert conn.execute(select(entries.c.state).where(entries.c.id == second)).scalar_one() == "new"
        rt.close()
    finally:
        server.close()


def test_a_redirect_hop_takes_the_slot_of_the_host_it_contacts(tmp_path: Path) -> None:
    other = serve({"/story.html": respond(200, PAGE, HTML)}, host="127.0.0.2")
    routes = {"/go.html": redirect(other.url("/story.html"))}
    server = serve(routes)
    try:
        routes["/feed.xml"] = respond(200, _feed(server, [server.url("/go.html")]))
        rt = _rt(tmp_path, server)
        (entry_id,) = poll_feed(rt, feed_id(rt, "f")).new_entry_ids
        busy = acquire(rt.engine, "127.0.0.2", HostLimits(2, 0.0, 60.0), wait_s=1.0)
        busy2 = acquire(rt.engine, "127.0.0.2", HostLimits(2, 0.0, 60.0), wait_s=1.0)
        # every slot of the redirect target is held by other workers: the hop waits, then defers
        assert process_entry(rt, entry_id).outcome == "deferred"
        assert len(other.requests) == 0 and len(server.requests) == 2  # the feed and the first hop
        release(rt.engine, busy)
        release(rt.engine, busy2)
        rt.clock.now += 10  # type: ignore[attr-defined]
        assert process_entry(rt, entry_id).outcome == "processed"
        assert len(other.requests) == 1
        with rt.engine.connect() as conn:
            assert conn.execute(select(articles.c.extracted_from)).scalar_one() == "page"
        rt.close()
    finally:
        server.close()
        other.close()
