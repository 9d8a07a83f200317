"""The fixture site: reproducible from its generator, feeds well-formed, links relative, pages served."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit
from urllib.request import url2pathname

import feedparser
import httpx
import pytest

from tests.extract.fixtures import ROOT, SEEDS, SITE, normalized, seed_lines
from tests.support.site_server import SiteServer
from worker.extract import decode_body, extract_page

FEEDS = ["feed.rss.xml", "feed.atom.xml"]
STEMS = sorted(p.stem for p in SEEDS.glob("00*.txt"))


def _parse(name: str, base: str | None = None) -> Any:
    kind = "atom" if name.endswith("atom.xml") else "rss"
    headers = {"content-location": base, "content-type": f"application/{kind}+xml"} if base else None
    parsed = feedparser.parse(io.BytesIO((SITE / name).read_bytes()), response_headers=headers)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def test_committed_site_matches_a_fresh_build(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(SEEDS / "build_site.py"), str(tmp_path)], check=True, cwd=ROOT,
                   capture_output=True)
    built = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert built, "generator wrote nothing"
    stale = [str(rel) for rel in built if (SEEDS / rel).read_bytes() != (tmp_path / rel).read_bytes()]
    assert stale == [], "run: python seeds/build_site.py"
    assert sorted(p.stem for p in (SITE / "articles").glob("*.html")) == STEMS


@pytest.mark.parametrize("name", FEEDS)
def test_feed_lists_every_seed_with_its_title(name: str) -> None:
    entries = _parse(name).entries
    by_stem = {Path(e.link).stem: e for e in entries}
    assert sorted(by_stem) == STEMS
    for stem, entry in by_stem.items():
        assert entry.title == seed_lines(f"{stem}.txt")[0]


@pytest.mark.parametrize("name", FEEDS)
def test_feed_dates_ids_and_summaries(name: str) -> None:
    entries = _parse(name).entries
    stamps = [datetime(*e.published_parsed[:6]) for e in entries]
    assert len(set(stamps)) == len(stamps) and {s.year for s in stamps} == {2024}
    assert stamps == sorted(stamps, reverse=True)
    ids = [e.id for e in entries]
    assert len(set(ids)) == len(ids)
    if name.endswith("atom.xml"):
        assert all(i.startswith("tag:news.example,2024-") for i in ids)
    else:
        assert all(not e.guidislink and not i.startswith("http") for e, i in zip(entries, ids, strict=True))
    for entry in entries:
        _title, body = seed_lines(f"{Path(entry.link).stem}.txt")
        summary = entry.summary.removesuffix("…")
        assert "<" not in summary and 20 < len(summary) <= 300
        assert normalized(summary) in " ".join(body)


@pytest.mark.parametrize("name", FEEDS)
def test_entry_links_are_relative_to_the_feed_on_disk(name: str) -> None:
    feed_uri = (SITE / name).as_uri()
    for entry in _parse(name).entries:
        assert not urlsplit(entry.link).scheme, "entry links must stay relative"
        target = Path(url2pathname(urlsplit(urljoin(feed_uri, entry.link)).path))
        assert target.is_file() and target.parent == SITE / "articles"


@pytest.mark.parametrize("name", FEEDS)
def test_channel_link_is_not_the_entry_base(name: str) -> None:
    parsed = _parse(name, base="http://127.0.0.1:8000/feeds/" + name)
    assert parsed.feed.link == "https://news.example/"
    assert all(e.link.startswith("http://127.0.0.1:8000/feeds/articles/") for e in parsed.entries)


@pytest.mark.parametrize("name", FEEDS)
def test_feed_and_pages_over_http(name: str) -> None:
    with SiteServer(SITE) as site, httpx.Client(timeout=10) as client:
        resp = client.get(f"{site.url}{name}")
        assert resp.status_code == 200
        parsed = feedparser.parse(io.BytesIO(resp.content),
                                  response_headers={**resp.headers, "content-location": str(resp.url)})
        assert len(parsed.entries) == len(STEMS)
        for entry in parsed.entries:
            assert entry.link.startswith(site.url + "articles/")
            page_resp = client.get(entry.link)
            assert page_resp.headers["content-type"] == "text/html; charset=utf-8"
            page = extract_page(decode_body(page_resp.content, page_resp.charset_encoding), url=entry.link)
            assert page is not None and page.title == entry.title and page.lang == "ar"
        assert all(site.hits[f"/articles/{stem}.html"] == 1 for stem in STEMS)
