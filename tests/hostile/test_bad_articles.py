"""Hostile article links and broken article pages through process_entry: blocked addresses are
never contacted, a local feed cannot read outside its directory, and a bad page falls back to
the feed's own text while the feed stays healthy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.hostile.support import assert_consistent, stored_text
from tests.hostile.test_bad_feeds import _gzip_bomb, _length_lie, _trickle
from tests.integration.helpers import SEEDS
from tests.net.servers import Handler, ScriptServer, respond, serve
from tests.polite.support import feed_id, feed_row, rss, runtime
from tests.support.site_server import SiteServer
from worker.polling import poll_feed, sync_feeds
from worker.processing import process_entry
from worker.runtime import Runtime
from worker.schema import articles, entries

pytestmark = pytest.mark.timeout(60)


def _articles(rt: Runtime) -> dict[str, tuple[str, str | None, str]]:
    """Entry title → (extracted_from, extract_note, text) of its article."""
    with rt.engine.connect() as conn:
        rows = conn.execute(
            select(entries.c.title, articles.c.extracted_from, articles.c.extract_note, articles.c.text).join(
                articles, articles.c.id == entries.c.article_id
            )
        ).all()
    return {r.title: (r.extracted_from, r.extract_note, r.text) for r in rows}


def _process_all(rt: Runtime, name: str) -> None:
    ids = poll_feed(rt, feed_id(rt, name)).new_entry_ids
    assert ids
    assert {process_entry(rt, i).outcome for i in ids} == {"processed"}


def test_an_article_link_to_a_blocked_address_is_never_contacted(tmp_path: Path) -> None:
    with SiteServer(SEEDS / "site") as site:
        local = tmp_path / "feeds"
        local.mkdir()
        page = f"{site.url}articles/000_6085b7264f9884e6.html"
        (local / "feed.rss.xml").write_bytes(
            rss([{"guid": "g1", "title": "internal", "link": page, "description": "feed text about it"}])
        )
        rt = runtime(
            tmp_path, feeds_=[{"name": "local", "path": str(local / "feed.rss.xml")}]
        )  # allow_private off
        sync_feeds(rt)
        _process_all(rt, "local")
        origin, note, text = _articles(rt)["internal"]
        assert origin == "feed" and text == "feed text about it"
        assert note is not None and note.startswith("page fetch failed: ") and "127.0.0.1" in note
        assert sum(site.hits.values()) == 0
        assert_consistent(rt)
        rt.close()


def test_a_local_feed_cannot_read_outside_its_directory(tmp_path: Path) -> None:
    local = tmp_path / "feeds" / "inner"
    local.mkdir(parents=True)
    shutil.copy(SEEDS / "site" / "articles" / "000_6085b7264f9884e6.html", local / "story.html")
    (tmp_path / "feeds" / "secret.html").write_text("<html><body><p>top secret sibling</p></body></html>")
    links = {
        "inside": "story.html",
        "dotdot": "../../../../../../etc/hosts",
        "file-url": "file:///etc/passwd",
        "absolute": "/etc/group",
        "sibling": "../secret.html",
        "encoded": "%2e%2e/secret.html",
    }
    items = [{"guid": k, "title": k, "link": v, "description": f"feed text {k}"} for k, v in links.items()]
    (local / "feed.rss.xml").write_bytes(rss(items))
    rt = runtime(tmp_path, feeds_=[{"name": "local", "path": str(local / "feed.rss.xml")}])
    sync_feeds(rt)
    _process_all(rt, "local")
    got = _articles(rt)
    assert got["inside"][0] == "page"
    for name in set(links) - {"inside"}:
        origin, note, text = got[name]
        assert origin == "feed" and text == f"feed text {name}", name
        assert note is not None and ("outside the feed's directory" in note or "no usable link" in note), note
    everything = stored_text(rt)
    assert "root:" not in everything and "top secret sibling" not in everything
    assert feed_row(rt, "local").last_error is None
    assert_consistent(rt)
    rt.close()


BAD_PAGES: dict[str, tuple[Handler, str]] = {
    "content-length-lie": (_length_lie, "response too large"),
    "decompression-bomb": (_gzip_bomb, "response too large"),
    "trickle": (_trickle, "deadline"),
    "server-error": (respond(500, b"oops"), "HTTP 500"),
    "empty-page": (respond(200, b"", [("Content-Type", "text/html")]), "no extractable article text"),
    "binary-junk": (respond(200, bytes(range(256)) * 50, [("Content-Type", "text/html")]), "no extractable"),
}


@pytest.mark.parametrize("case", sorted(BAD_PAGES))
def test_a_bad_page_falls_back_to_the_feed_text(tmp_path: Path, case: str) -> None:
    handler, reason = BAD_PAGES[case]
    routes: dict[str, Handler] = {"/page.html": handler}
    server: ScriptServer = serve(routes)
    try:
        body = rss(
            [
                {
                    "guid": "g1",
                    "title": "story",
                    "link": server.url("/page.html"),
                    "description": "from the feed",
                }
            ]
        )
        routes["/feed.xml"] = respond(200, body)
        feeds_ = [{"name": "f", "url": server.url("/feed.xml"), "allow_private": True}]
        rt = runtime(
            tmp_path,
            feeds_=feeds_,
            extra={"fetch": {"per_host_spacing_s": 0, "deadline_s": 1.5, "page_max_bytes": 1024 * 1024}},
        )
        sync_feeds(rt)
        _process_all(rt, "f")
        origin, note, text = _articles(rt)["story"]
        assert origin == "feed" and text == "from the feed"
        assert note is not None and reason in note, note
        row = feed_row(rt, "f")
        assert row.error_streak == 0 and row.last_error is None
        assert_consistent(rt)
        rt.close()
    finally:
        server.close()
