"""When a feed is fetched again: Retry-After through next_check_at, conditional GET with a forced
full fetch, and capped, jittered backoff that never disables a feed — all with an injected clock
against real loopback servers."""

from __future__ import annotations

import socket
from email.utils import formatdate
from pathlib import Path
from time import time

import pytest

from tests.net.servers import ScriptServer, Seen, raw_response, serve
from tests.polite.support import Clock, feed_id, feed_row, rss, runtime
from tests.support.site_server import SiteServer
from worker.poll_record import backoff_delay
from worker.polling import claim_due_feeds, poll_feed, sync_feeds
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(60)


def _feed_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "feed.rss.xml").write_bytes(rss([{"guid": "a", "title": "first"}]))
    return site


def _poll_if_due(rt: Runtime) -> list[str]:
    return [poll_feed(rt, i).outcome for i in claim_due_feeds(rt)]


def _setup(tmp_path: Path, url: str, *, interval: int = 60, max_backoff: float = 86_400) -> Runtime:
    feeds_ = [{"name": "f", "url": url, "allow_private": True, "interval": interval}]
    rt = runtime(
        tmp_path, feeds_=feeds_, extra={"fetch": {"max_backoff_s": max_backoff, "per_host_spacing_s": 0}}
    )
    sync_feeds(rt)
    return rt


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_means_exactly_one_request_until_the_deadline(tmp_path: Path, status: int) -> None:
    with SiteServer(_feed_site(tmp_path)) as site:
        site.set_response("/feed.rss.xml", status=status, headers={"Retry-After": "7200"})
        rt = _setup(tmp_path, f"{site.url}feed.rss.xml")
        start = rt.clock()
        assert _poll_if_due(rt) == ["error"]
        row = feed_row(rt, "f")
        assert row.next_check_at == pytest.approx(start + 7200, abs=0.01) and str(status) in row.last_error
        while rt.clock() < start + 7199:  # a beat tick every minute for two hours
            rt.clock.now += 60  # type: ignore[attr-defined]
            rt.clock.now = min(rt.clock.now, start + 7199)  # type: ignore[attr-defined]
            assert _poll_if_due(rt) == []
        assert site.hits["/feed.rss.xml"] == 1
        site.clear_response("/feed.rss.xml")
        rt.clock.now = start + 7200  # type: ignore[attr-defined]
        assert _poll_if_due(rt) == ["fetched"]
        assert site.hits["/feed.rss.xml"] == 2 and feed_row(rt, "f").error_streak == 0
        rt.close()


def test_retry_after_is_capped_at_max_backoff_and_accepts_an_http_date(tmp_path: Path) -> None:
    with SiteServer(_feed_site(tmp_path)) as site:
        site.set_response("/feed.rss.xml", status=429, headers={"Retry-After": "86400"})
        rt = _setup(tmp_path, f"{site.url}feed.rss.xml", max_backoff=3600)
        assert _poll_if_due(rt) == ["error"]
        assert feed_row(rt, "f").next_check_at == pytest.approx(rt.clock() + 3600, abs=0.01)
        rt.clock.now += 3600  # type: ignore[attr-defined]
        site.set_response(
            "/feed.rss.xml", status=503, headers={"Retry-After": formatdate(time() + 1800, usegmt=True)}
        )
        assert _poll_if_due(rt) == ["error"]
        assert feed_row(rt, "f").next_check_at - rt.clock() == pytest.approx(1800, abs=5)
        assert site.hits["/feed.rss.xml"] == 2
        rt.close()


class StaleEtagFeed:
    """A feed server that keeps one ETag whatever its content: 304 to that ETag, else the body."""

    ETAG = '"v1-never-changes"'

    def __init__(self) -> None:
        self.body = rss([{"guid": "a", "title": "first"}])
        self.server: ScriptServer = serve({"/feed.xml": self.handle})

    def handle(self, conn: socket.socket, seen: Seen, server: ScriptServer) -> bool:
        if seen.headers.get("if-none-match") == self.ETAG:
            conn.sendall(raw_response(304, [("ETag", self.ETAG), ("Content-Length", "0")]))
        else:
            headers = [("ETag", self.ETAG), ("Content-Type", "application/rss+xml")]
            conn.sendall(raw_response(200, [*headers, ("Content-Length", str(len(self.body)))], self.body))
        return True


def test_conditional_get_and_a_forced_full_fetch_pick_up_what_a_stale_etag_hides(tmp_path: Path) -> None:
    origin = StaleEtagFeed()
    try:
        rt = runtime(
            tmp_path,
            feeds_=[
                {"name": "f", "url": origin.server.url("/feed.xml"), "allow_private": True, "interval": 600}
            ],
            extra={"fetch": {"full_fetch_every_s": 86_400, "per_host_spacing_s": 0}},
        )
        sync_feeds(rt)
        fid = feed_id(rt, "f")
        assert len(poll_feed(rt, fid).new_entry_ids) == 1
        assert feed_row(rt, "f").etag == StaleEtagFeed.ETAG  # stored verbatim, quotes kept
        origin.body = rss([{"guid": "b", "title": "second"}, {"guid": "a", "title": "first"}])
        for _ in range(5):  # conditional polls: the server wrongly says 304, nothing is parsed
            rt.clock.now += 600  # type: ignore[attr-defined]
            assert poll_feed(rt, fid).outcome == "not-modified"
        sent = [r.headers.get("if-none-match") for r in origin.server.requests]
        assert sent == [None] + [StaleEtagFeed.ETAG] * 5
        rt.clock.now += 86_400  # type: ignore[attr-defined]  # the forced unconditional fetch is due
        forced = poll_feed(rt, fid)
        assert forced.outcome == "fetched" and len(forced.new_entry_ids) == 1
        assert origin.server.requests[-1].headers.get("if-none-match") is None
        rt.clock.now += 600  # type: ignore[attr-defined]  # conditional again afterwards
        assert poll_feed(rt, fid).outcome == "not-modified"
        rt.close()
    finally:
        origin.server.close()


def test_backoff_doubles_with_jitter_up_to_the_cap_and_never_disables_the_feed(tmp_path: Path) -> None:
    interval, cap = 60, 3600.0
    with SiteServer(_feed_site(tmp_path)) as site:
        site.set_response("/feed.rss.xml", status=500)
        rt = _setup(tmp_path, f"{site.url}feed.rss.xml", interval=interval, max_backoff=cap)
        delays = []
        for n in range(1, 31):
            assert _poll_if_due(rt) == ["error"]  # always claimed again when due: never disabled
            row = feed_row(rt, "f")
            assert row.error_streak == n and row.last_error == "HTTP 500 Internal Server Error"
            delay = row.next_check_at - rt.clock()
            full = min(cap, interval * 2.0**n)
            assert max(interval, full / 2) <= delay <= full
            delays.append(delay)
            rt.clock.now += delay - 1  # type: ignore[attr-defined]
            assert _poll_if_due(rt) == []  # nothing before its time
            rt.clock.now += 1  # type: ignore[attr-defined]
        assert max(delays) <= cap and len(set(delays[10:])) > 1  # capped, and jittered at the cap
        assert site.hits["/feed.rss.xml"] == 30
        site.clear_response("/feed.rss.xml")
        assert _poll_if_due(rt) == ["fetched"]
        row = feed_row(rt, "f")
        assert row.error_streak == 0 and row.last_error is None
        assert row.next_check_at == pytest.approx(rt.clock() + interval, abs=0.01)
        rt.close()


def test_backoff_delay_bounds() -> None:
    assert backoff_delay(60, 1, 3600, 0.0) == 60  # never below the interval
    assert backoff_delay(60, 1, 3600, 1.0) == 120
    assert backoff_delay(60, 50, 3600, 1.0) == 3600 and backoff_delay(60, 50, 3600, 0.0) == 1800
    assert Clock()() > 0


def test_a_feed_polled_late_keeps_its_cadence(tmp_path: Path) -> None:
    """Counted from the poll, every wait for the tick and the queue stretched a feed's interval; it
    counts from when the feed was due, except a feed so late that it would be polled again at once."""
    interval = 60
    with SiteServer(_feed_site(tmp_path)) as site:
        rt = _setup(tmp_path, f"{site.url}feed.rss.xml", interval=interval)
        assert _poll_if_due(rt) == ["fetched"]  # first poll (never due before): one period from now
        due = feed_row(rt, "f").next_check_at
        assert due == pytest.approx(rt.clock() + interval, abs=0.01)
        rt.clock.now = due + 8  # type: ignore[attr-defined]  # polled 8 s after it was due
        assert _poll_if_due(rt) == ["not-modified"]
        assert feed_row(rt, "f").next_check_at == pytest.approx(due + interval, abs=0.01)  # not due + 8 + 60
        due += interval
        rt.clock.now = due + 50  # type: ignore[attr-defined]  # very late: not polled again 10 s later
        assert _poll_if_due(rt) == ["not-modified"]
        assert feed_row(rt, "f").next_check_at == pytest.approx(rt.clock() + 0.75 * interval, abs=0.01)
        rt.close()
