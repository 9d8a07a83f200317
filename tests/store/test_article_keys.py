"""One story, one article: the spellings of one URL give one key, and a page's own
`<link rel="canonical">` re-keys its article, whichever of the two spellings is processed first
and with two workers at once (real loopback site, real store)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.integration.helpers import SEEDS
from tests.polite.support import feed_id, rss, runtime
from tests.support.site_server import SiteServer
from worker.article_keys import article_key, page_canonical
from worker.polling import poll_feed, sync_feeds
from worker.processing import process_entry
from worker.runtime import Runtime
from worker.schema import alerts, articles

pytestmark = pytest.mark.timeout(90)
STORY = SEEDS / "site" / "articles" / "000_6085b7264f9884e6.html"

SPELLINGS = [
    "https://www.example.com/world/story-1?id=7&page=2",
    "http://example.com/world/story-1?page=2&id=7",
    "https://example.com:443/world/story-1/?id=7&page=2#comments",
    "http://www.example.com:80/world/story-1?utm_source=rss&id=7&fbclid=x&page=2&mc_cid=1",
    "HTTPS://EXAMPLE.COM/world/story-1?page=2&gclid=abc&id=7",
]


def test_spellings_of_one_url_give_one_key() -> None:
    assert len({article_key(u) for u in SPELLINGS}) == 1, {article_key(u) for u in SPELLINGS}


@pytest.mark.parametrize(
    "other",
    [
        "https://example.com/world/story-2?id=7&page=2",
        "https://example.com/world/story-1?id=8&page=2",
        "https://example.com:8443/world/story-1?id=7&page=2",
        "https://news.example.com/world/story-1?id=7&page=2",
    ],
)
def test_distinct_stories_keep_distinct_keys(other: str) -> None:
    assert article_key(other) != article_key(SPELLINGS[0])


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ('<link rel="canonical" href="/world/story-1">', "https://m.example.com/world/story-1"),
        ('<link rel="canonical" href="https://www.example.com/s">', "https://www.example.com/s"),
        ('<link rel="canonical" href="https://reuters.example.org/s">', None),  # another site
        ('<link rel="canonical" href="https://example.com/">', None),  # the home page
        ('<link rel="alternate" href="https://example.com/s">', None),
    ],
)
def test_page_canonical(head: str, expected: str | None) -> None:
    html = f"<html><head><title>t</title>{head}</head><body><p>text</p></body></html>"
    assert page_canonical(html, "https://m.example.com/amp/world/story-1") == expected


def _site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "amp").mkdir(parents=True)
    shutil.copy(STORY, root / "story.html")
    html = STORY.read_text(encoding="utf-8")
    amp = html.replace("<head>", '<head><link rel="canonical" href="/story.html">', 1)
    (root / "amp" / "story.html").write_text(amp, encoding="utf-8")
    return root


def _setup(tmp_path: Path, site: SiteServer) -> tuple[Runtime, list[int]]:
    links = {"plain": f"{site.url}story.html?utm_source=a", "amp": f"{site.url}amp/story.html"}
    feeds_ = []
    for name, link in links.items():
        (tmp_path / "site" / f"{name}.xml").write_bytes(
            rss([{"guid": name, "title": "The story", "link": link, "description": "x"}])
        )
        feeds_.append({"name": name, "url": f"{site.url}{name}.xml", "allow_private": True, "interval": 60})
    rt = runtime(tmp_path, feeds_=feeds_, extra={"fetch": {"per_host_spacing_s": 0}})
    sync_feeds(rt)
    ids = [poll_feed(rt, feed_id(rt, name)).new_entry_ids[0] for name in links]
    return rt, ids


def _counts(rt: Runtime) -> tuple[int, int]:
    with rt.engine.connect() as conn:
        n_articles = conn.execute(select(func.count()).select_from(articles)).scalar_one()
        n_alerts = conn.execute(select(func.count()).select_from(alerts)).scalar_one()
    return int(n_articles), int(n_alerts)


@pytest.mark.parametrize("order", ["plain-first", "amp-first"])
def test_a_page_canonical_re_keys_its_article(tmp_path: Path, order: str) -> None:
    with SiteServer(_site(tmp_path)) as site:
        rt, (plain, amp) = _setup(tmp_path, site)
        first, second = (plain, amp) if order == "plain-first" else (amp, plain)
        one = process_entry(rt, first)
        two = process_entry(rt, second)
        assert one.outcome == "processed" and one.watches, one
        assert two.outcome == "duplicate" and two.article_id == one.article_id
        assert _counts(rt) == (1, len(one.watches))
        with rt.engine.connect() as conn:
            key = conn.execute(select(articles.c.url_key)).scalar_one()
        assert key == article_key(f"{site.url}story.html")
        assert process_entry(rt, first).outcome == "done-already"  # idempotent
        rt.close()


def test_two_workers_processing_both_spellings_at_once_store_one_article(tmp_path: Path) -> None:
    with SiteServer(_site(tmp_path)) as site:
        site.set_delay("/story.html", 0.5)
        site.set_delay("/amp/story.html", 0.5)
        rt, ids = _setup(tmp_path, site)
        other = Runtime(rt.settings, clock=rt.clock)  # a second worker: its own engine and fetcher
        outcomes: list[str] = []
        threads = [
            threading.Thread(target=lambda r=r, i=i: outcomes.append(process_entry(r, i).outcome))
            for r, i in zip((rt, other), ids, strict=True)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(outcomes) == ["duplicate", "processed"]
        n_articles, n_alerts = _counts(rt)
        assert n_articles == 1 and n_alerts >= 1
        other.close()
        rt.close()
