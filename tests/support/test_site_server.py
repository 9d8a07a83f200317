"""SiteServer: real loopback HTTP with validators, 304s, counters, canned responses and delays."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.site_server import SiteServer, content_type, etag_for

SITE = Path(__file__).resolve().parents[2] / "seeds" / "site"
FILES = sorted(p.relative_to(SITE).as_posix() for p in SITE.rglob("*") if p.is_file())


@pytest.fixture()
def site() -> Iterator[SiteServer]:
    with SiteServer(SITE) as server:
        yield server


@pytest.fixture()
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def test_url_is_a_loopback_base_with_trailing_slash(site: SiteServer) -> None:
    assert site.url == f"http://127.0.0.1:{site.port}/" and site.port > 0


@pytest.mark.parametrize("rel", FILES)
def test_serves_file_with_type_and_validators(site: SiteServer, client: httpx.Client, rel: str) -> None:
    resp = client.get(site.url + rel)
    body = (SITE / rel).read_bytes()
    assert resp.status_code == 200 and resp.content == body
    assert resp.headers["content-type"] == content_type(SITE / rel)
    assert resp.headers["etag"] == etag_for(body) and resp.headers["etag"].startswith('"')
    assert "GMT" in resp.headers["last-modified"]
    assert site.hits[f"/{rel}"] == 1 and site.not_modified[f"/{rel}"] == 0


def test_feed_types() -> None:
    assert content_type(SITE / "feed.rss.xml") == "application/rss+xml"
    assert content_type(SITE / "feed.atom.xml") == "application/atom+xml"
    assert content_type(next((SITE / "articles").glob("*.html"))) == "text/html; charset=utf-8"


def test_conditional_get_answers_304(site: SiteServer, client: httpx.Client) -> None:
    first = client.get(site.url + "feed.rss.xml")
    by_etag = client.get(site.url + "feed.rss.xml", headers={"If-None-Match": first.headers["etag"]})
    since = {"If-Modified-Since": first.headers["last-modified"]}
    by_date = client.get(site.url + "feed.rss.xml", headers=since)
    assert (by_etag.status_code, by_date.status_code) == (304, 304)
    assert by_etag.content == b"" and by_etag.headers["etag"] == first.headers["etag"]
    assert site.hits["/feed.rss.xml"] == 3 and site.not_modified["/feed.rss.xml"] == 2


def test_etag_mismatch_beats_fresh_date(site: SiteServer, client: httpx.Client) -> None:
    first = client.get(site.url + "feed.atom.xml")
    resp = client.get(site.url + "feed.atom.xml", headers={
        "If-None-Match": '"stale"', "If-Modified-Since": first.headers["last-modified"]})
    old = client.get(site.url + "feed.atom.xml",
                     headers={"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert (resp.status_code, old.status_code) == (200, 200)
    assert site.not_modified["/feed.atom.xml"] == 0


@pytest.mark.parametrize("path", ["missing.html", "articles/", "%2e%2e/000_6085b7264f9884e6.txt",
                                  "..%2fbuild_site.py"])
def test_missing_and_escaping_paths_are_404(site: SiteServer, client: httpx.Client, path: str) -> None:
    assert client.get(site.url + path).status_code == 404


def test_canned_response_and_clear(site: SiteServer, client: httpx.Client) -> None:
    site.set_response("/feed.rss.xml", status=503, body="down", headers={"Retry-After": "120"})
    resp = client.get(site.url + "feed.rss.xml")
    assert (resp.status_code, resp.text, resp.headers["retry-after"]) == (503, "down", "120")
    site.clear_response("feed.rss.xml")
    assert client.get(site.url + "feed.rss.xml").status_code == 200
    assert site.hits["/feed.rss.xml"] == 2


def test_delay_makes_clients_time_out(site: SiteServer) -> None:
    site.set_delay("/feed.rss.xml", 2.0)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(site.url + "feed.rss.xml", timeout=0.3)
    assert time.monotonic() - started < 1.5
    site.set_delay("/feed.rss.xml", 0)
    assert httpx.get(site.url + "feed.rss.xml", timeout=2).status_code == 200


def test_counters_are_exact_under_concurrency(site: SiteServer) -> None:
    def fetch(_: int) -> int:
        return httpx.get(site.url + "feed.atom.xml", timeout=5).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(fetch, range(40)))
    assert statuses == [200] * 40 and site.hits["/feed.atom.xml"] == 40


def test_exit_stops_serving_even_with_a_pending_delay() -> None:
    with SiteServer(SITE) as server:
        server.set_delay("/feed.rss.xml", 30)
        url = server.url
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(url + "feed.rss.xml", timeout=0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "feed.rss.xml", timeout=1)
