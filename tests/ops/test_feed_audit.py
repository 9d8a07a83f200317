"""`newswatch feeds audit`: real loopback feeds polled by the real poll stage (conditional GETs
answered 304), then the hub, the 304 ratio and the publish-to-seen delays read back exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from tests.polite.support import feed_id, rss, runtime
from tests.support.clock import T0, Clock
from tests.support.services import ROOT
from tests.support.site_server import SiteServer
from worker.feed_audit import audit_feeds, duration
from worker.feedparse import parse_feed
from worker.polling import PollOutcome, poll_feed, sync_feeds

pytestmark = pytest.mark.timeout(120)

HUB = "https://hub.example.org/websub"
HEADER_HUB = "https://pubsubhubbub.example.com/"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rfc822(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")


def _atom(items: list[tuple[str, float]]) -> bytes:
    """An Atom feed advertising HUB; items are (id, published timestamp)."""
    body = "".join(
        f"<entry><id>urn:{i}</id><title>item {i}</title><link href='http://example.org/{i}'/>"
        f"<updated>{_iso(ts)}</updated><summary>text {i}</summary></entry>"
        for i, ts in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>hubbed</title><id>urn:feed</id><updated>{_iso(T0)}</updated>"
        f"<link rel='hub' href='{escape(HUB)}'/><link rel='self' href='http://example.org/feed'/>"
        f"{body}</feed>"
    ).encode()


def _rss_hub() -> bytes:
    """RSS 2.0 advertising a hub with atom:link."""
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0' xmlns:atom='http://www.w3.org/2005/Atom'>"
        f"<channel><title>r</title><atom:link rel='hub' href='{HUB}/rss'/>"
        "<item><guid>r1</guid><title>one</title></item></channel></rss>"
    ).encode()


def test_audit_reports_hub_304_ratio_and_median_delay(tmp_path: Path) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    atom_file, rss_file = site_dir / "hub.atom.xml", site_dir / "plain.rss.xml"
    (site_dir / "rsshub.rss.xml").write_bytes(_rss_hub())
    atom_file.write_bytes(_atom([("a", T0 - 3600)]))
    rss_file.write_bytes(rss([{"guid": "x", "title": "x", "pubDate": _rfc822(T0 - 60)}]))
    clock = Clock()
    with SiteServer(site_dir) as site:
        site.set_response(
            "/linked.rss.xml",
            body=rss([{"guid": "l", "title": "l"}]),
            headers={"Content-Type": "application/rss+xml",
                     "Link": f'<http://example.org/self>; rel="self", <{HEADER_HUB}>; rel="hub"'},
        )
        names = ["hub", "plain", "linked", "rsshub"]
        paths = ["hub.atom.xml", "plain.rss.xml", "linked.rss.xml", "rsshub.rss.xml"]
        feeds_ = [{"name": n, "url": site.url + p, "allow_private": True, "interval": 60}
                  for n, p in zip(names, paths, strict=True)]
        rt = runtime(tmp_path, feeds_=feeds_, database_url=f"sqlite:///{tmp_path / 'store.db'}",
                     clock=clock, extra={"fetch": {"per_host_spacing_s": 0}})
        sync_feeds(rt)
        ids = {n: feed_id(rt, n) for n in names}

        def poll_all(at: float) -> dict[str, PollOutcome]:
            clock.now = at
            return {n: poll_feed(rt, ids[n]).outcome for n in names}

        first = poll_all(T0)  # first poll: its entries are the backlog, not a delay
        assert set(first.values()) == {PollOutcome.FETCHED}
        assert poll_all(T0 + 1000)["hub"] == PollOutcome.NOT_MODIFIED
        atom_file.write_bytes(_atom([("a", T0 - 3600), ("b", T0 + 1500)]))
        rss_file.write_bytes(rss([{"guid": "x", "title": "x", "pubDate": _rfc822(T0 - 60)},
                                  {"guid": "y", "title": "y", "pubDate": _rfc822(T0 + 1200)},
                                  {"guid": "z", "title": "z undated"}]))
        third = poll_all(T0 + 2000)  # b: 500 s; y: 800 s; z undated
        assert third["hub"] == third["plain"] == PollOutcome.FETCHED
        assert third["linked"] == PollOutcome.UNCHANGED  # a 200 with the same body is a success too
        poll_all(T0 + 3000)
        atom_file.write_bytes(_atom([("a", T0 - 3600), ("b", T0 + 1500), ("c", T0 + 3100), ("d", T0 + 3700)]))
        poll_all(T0 + 4000)  # c: 900 s, d: 300 s
        poll_all(T0 + 5000)
        assert site.not_modified["/hub.atom.xml"] == 3
        assert site.not_modified["/plain.rss.xml"] == 4

        got = {a.feed: a for a in audit_feeds(rt.engine, names, now=T0 + 5000, days=7)}
        assert [a.feed for a in audit_feeds(rt.engine, names, now=T0, days=7)] == names
        hub, plain, linked, rsshub = got["hub"], got["plain"], got["linked"], got["rsshub"]
        assert (hub.hub, plain.hub, linked.hub, rsshub.hub) == (HUB, None, HEADER_HUB, f"{HUB}/rss")
        assert (hub.polls, hub.polls_not_modified, hub.not_modified_ratio) == (6, 3, 0.5)
        assert (plain.polls, plain.polls_not_modified) == (6, 4)
        assert (linked.polls, linked.polls_not_modified, linked.not_modified_ratio) == (6, 0, 0.0)
        assert (hub.median_delay_s, hub.dated_entries, hub.undated_entries) == (500.0, 3, 0)
        assert (plain.median_delay_s, plain.dated_entries, plain.undated_entries) == (800.0, 1, 1)
        assert (linked.median_delay_s, linked.dated_entries) == (None, 0)  # first-poll entries only
        # the window: entries first seen in the last day before T0 + 4000 + 1 day are c and d
        recent = audit_feeds(rt.engine, ["hub"], now=T0 + 4000 + 86_400, days=1)[0]
        assert (recent.median_delay_s, recent.dated_entries) == (600.0, 2)
        assert hub.line() == (f"{'hub':24} hub {HUB}  median delay 8m20s (3 dated, 0 undated)  "
                              "304 3/6 (50.0%)")

        # the command, as an operator runs it (real time: a window wide enough to reach T0)
        env = {**os.environ, "NEWSWATCH_CONFIG": str(tmp_path / "newswatch.yaml")}
        out = subprocess.run([sys.executable, "-m", "worker.cli", "feeds", "audit", "--days", "10000",
                              "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        rows = [json.loads(line) for line in out.stdout.splitlines()]
        assert [r["feed"] for r in rows] == names
        assert rows[0] == {"feed": "hub", "hub": HUB, "median_delay_s": 500.0, "dated_entries": 3,
                           "undated_entries": 0, "polls": 6, "polls_not_modified": 3,
                           "not_modified_ratio": 0.5}
        text = subprocess.run([sys.executable, "-m", "worker.cli", "feeds", "audit", "--days", "10000"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert text.returncode == 0 and text.stdout.splitlines()[1].startswith("plain ")
        assert "median delay 13m20s (1 dated, 1 undated)  304 4/6 (66.7%)" in text.stdout
        plain_listing = subprocess.run([sys.executable, "-m", "worker.cli", "feeds"], cwd=ROOT, env=env,
                                       capture_output=True, text=True, timeout=60)
        assert plain_listing.returncode == 0 and "rsshub" in plain_listing.stdout  # `feeds` still works
        rt.close()


def test_hub_from_each_place_a_feed_can_advertise_it() -> None:
    base = "http://example.org/feed"
    assert parse_feed(_atom([("a", T0)]), base_url=base).hub == HUB
    assert parse_feed(_rss_hub(), base_url=base).hub == f"{HUB}/rss"
    plain = rss([{"guid": "p", "title": "p"}])
    assert parse_feed(plain, base_url=base).hub is None
    header = {"link": f'<{HEADER_HUB}>; rel="hub"'}
    assert parse_feed(plain, base_url=base, headers=header).hub == HEADER_HUB
    assert parse_feed(plain, base_url=base, headers={"link": '<http://a/>; rel="self"'}).hub is None
    unsafe = {"link": '<javascript:alert(1)>; rel="hub"'}
    assert parse_feed(plain, base_url=base, headers=unsafe).hub is None


def test_duration_format() -> None:
    shown = [duration(s) for s in (45, 750, 11_100, 187_200, -30)]
    assert shown == ["45s", "12m30s", "3h05m", "2d04h", "-30s"]
