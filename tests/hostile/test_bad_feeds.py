"""Hostile and broken feeds end to end through poll_feed: no crash, a readable reason on the
feed, nothing stored from a bad feed, and lenient parsing where the feed is only untidy."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.hostile.support import assert_consistent, stored_text
from tests.net.servers import Handler, ScriptServer, Seen, raw_response, respond, serve
from tests.polite.support import count, feed_id, feed_row, rss, runtime
from worker.polling import poll_feed, sync_feeds
from worker.processing import process_entry
from worker.runtime import Runtime
from worker.schema import articles, entries

pytestmark = pytest.mark.timeout(60)
MiB = 1024 * 1024
RSS_HEAD = b'<?xml version="1.0"?>\n'
ITEM = b"<item><guid>g1</guid><title>&xxe;</title><description>x</description></item>"


@pytest.fixture
def server() -> Iterator[Callable[[Handler], ScriptServer]]:
    started: list[ScriptServer] = []

    def start(handler: Handler) -> ScriptServer:
        started.append(serve({"/feed.xml": handler}))
        return started[-1]

    yield start
    for s in started:
        s.close()


def _poll(tmp_path: Path, url: str, **fetch: object) -> tuple[Runtime, str, str | None]:
    feeds_ = [{"name": "bad", "url": url, "allow_private": True, "interval": 60}]
    rt = runtime(tmp_path, feeds_=feeds_, extra={"fetch": {"per_host_spacing_s": 0, **fetch}})
    sync_feeds(rt)
    result = poll_feed(rt, feed_id(rt, "bad"))
    return rt, result.outcome, result.error


def _trickle(conn: socket.socket, seen: Seen, server: ScriptServer) -> bool:
    conn.sendall(raw_response(200, [("Content-Length", "1000000")], RSS_HEAD + b"<rss><channel>"))
    while not server.stop.wait(0.3):
        conn.sendall(b" ")
    return False


def _length_lie(conn: socket.socket, seen: Seen, server: ScriptServer) -> bool:
    conn.sendall(raw_response(200, [("Content-Length", str(10 * 1024**3))], RSS_HEAD + b"<rss>"))
    server.stop.wait(30)
    return False


def _gzip_bomb(conn: socket.socket, seen: Seen, server: ScriptServer) -> bool:
    conn.sendall(raw_response(200, [("Content-Encoding", "gzip"), ("Connection", "close")]))
    packer = gzip.zlib.compressobj(9, gzip.zlib.DEFLATED, 31)  # type: ignore[attr-defined]
    try:
        conn.sendall(packer.compress(RSS_HEAD + b"<rss><channel>"))
        for _ in range(64):
            conn.sendall(packer.compress(bytes(MiB)))
        conn.sendall(packer.flush())
    except OSError:
        pass  # the client hung up at its cap, as it should
    return False


XXE = (
    RSS_HEAD
    + b'<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><rss><channel>'
    + ITEM
    + b"</channel></rss>"
)
LAUGHS = (
    RSS_HEAD
    + b'<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
    + b"".join(
        b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">' % ((c,) + (c - 1,) * 10)
        for c in b"bcdefghij"
    )
    + b"]><rss><channel><item><guid>g1</guid><title>&j;</title></item></channel></rss>"
)
HTML = b"<!doctype html><html><head><title>Welcome</title></head><body><p>Not a feed</p></body></html>"

BAD_FEEDS: dict[str, tuple[Handler, str, dict[str, object]]] = {
    "xxe": (respond(200, XXE), "entity declarations are refused", {}),
    "billion-laughs": (respond(200, LAUGHS), "entity declarations are refused", {}),
    "decompression-bomb": (_gzip_bomb, "response too large", {"feed_max_bytes": 1 * MiB}),
    "content-length-lie": (_length_lie, "response too large", {}),
    "trickle": (_trickle, "deadline", {"deadline_s": 1.5}),
    "html-as-feed": (respond(200, HTML, [("Content-Type", "text/html")]), "not a feed: looks like HTML", {}),
    "empty-200": (respond(200, b""), "empty response body", {}),
    "json-as-feed": (respond(200, b'{"items": []}'), "not a feed", {}),
    "garbage-bytes": (respond(200, bytes(range(256)) * 10), "not a feed", {}),
}


@pytest.mark.parametrize("case", sorted(BAD_FEEDS))
def test_a_bad_feed_is_an_error_with_a_reason_and_stores_nothing(
    tmp_path: Path, server: Callable[[Handler], ScriptServer], case: str
) -> None:
    handler, reason, fetch = BAD_FEEDS[case]
    origin = server(handler)
    rt, outcome, error = _poll(tmp_path, origin.url("/feed.xml"), **fetch)
    row = feed_row(rt, "bad")
    assert outcome == "error" and error is not None and reason in error
    assert row.last_error == error and row.error_streak == 1 and row.body_hash is None
    assert row.next_check_at > rt.clock() and row.lease_until == 0.0  # retried later, not stuck
    assert count(rt, entries) == 0 and count(rt, articles) == 0
    assert "root:" not in stored_text(rt)
    rt.close()


def test_invalid_utf8_and_nul_bytes_are_repaired_not_fatal(
    tmp_path: Path, server: Callable[[Handler], ScriptServer]
) -> None:
    body = rss([{"guid": "g1", "title": "before-TITLE-after", "description": "ok"}]).replace(
        b"TITLE", b"\xff\xfe\x00bad\x00\xc3("
    )
    origin = server(respond(200, body, [("Content-Type", "application/rss+xml; charset=utf-8")]))
    rt, outcome, _ = _poll(tmp_path, origin.url("/feed.xml"))
    assert outcome == "fetched" and count(rt, entries) == 1
    text = stored_text(rt)
    assert "\x00" not in text and "before-" in text and "bad" in text
    assert feed_row(rt, "bad").last_error is None
    rt.close()


def test_a_100000_entry_feed_stores_the_first_max_entries(
    tmp_path: Path, server: Callable[[Handler], ScriptServer]
) -> None:
    items = b"".join(b"<item><guid>g%d</guid><title>t%d</title></item>" % (i, i) for i in range(100_000))
    body = RSS_HEAD + b"<rss version='2.0'><channel><title>big</title>" + items + b"</channel></rss>"
    origin = server(respond(200, body))
    rt, outcome, _ = _poll(tmp_path, origin.url("/feed.xml"), feed_max_bytes=16 * MiB, max_entries=500)
    assert outcome == "fetched" and count(rt, entries) == 500
    rt.close()


def test_entries_without_title_link_or_date_and_with_hostile_links_use_feed_text(
    tmp_path: Path, server: Callable[[Handler], ScriptServer]
) -> None:
    body = rss(
        [
            {"description": "only a description, no title, link, guid or date"},
            {"guid": "js", "title": "script link", "link": "javascript:alert(1)", "description": "js text"},
            {"guid": "file", "title": "file link", "link": "file:///etc/passwd", "description": "file text"},
            {
                "guid": "data",
                "title": "data link",
                "link": "data:text/html,<b>x</b>",
                "description": "data text",
            },
        ]
    )
    origin = server(respond(200, body))
    rt, outcome, _ = _poll(tmp_path, origin.url("/feed.xml"))
    assert outcome == "fetched" and count(rt, entries) == 4
    with rt.engine.connect() as conn:
        ids = list(conn.execute(entries.select().with_only_columns(entries.c.id, entries.c.link)).all())
    assert all(link is None for _, link in ids)  # unusable links are dropped at parse time
    for entry_id, _ in ids:
        assert process_entry(rt, entry_id).outcome == "processed"
    assert len(origin.requests) == 1  # the feed itself, nothing else
    with rt.engine.connect() as conn:
        got = conn.execute(articles.select()).all()
    assert {a.extracted_from for a in got} == {"feed"} and all(
        a.extract_note == "entry has no usable link" for a in got
    )
    assert "root:" not in stored_text(rt)
    assert_consistent(rt)
    rt.close()
