"""Per-host concurrency and spacing across workers: feed polls and article fetches from several
processes and threads never exceed the limit at a real loopback server, and a busy host defers
work through the store instead of holding a worker."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.helpers import SEEDS
from tests.polite.support import GaugedSite, count, feed_id, feed_row, rss, runtime
from tests.support.services import ROOT
from tests.support.site_server import SiteServer
from worker.delivery import sweep
from worker.hosts import HostBusy, HostLimits, acquire, release
from worker.polling import poll_feed, sync_feeds
from worker.processing import process_entry
from worker.runtime import Runtime
from worker.schema import articles, entries

pytestmark = pytest.mark.timeout(120)

SPACING = 0.3
TOLERANCE = 0.12  # a turn is taken before the request reaches the server; a loaded box adds jitter


def _politeness(concurrency: int, spacing: float) -> dict[str, object]:
    return {"fetch": {"per_host_concurrency": concurrency, "per_host_spacing_s": spacing}}


_CHILD = """
import json, sys
from worker.config import load_settings
from worker.polling import poll_feed
from worker.runtime import Runtime
rt = Runtime(load_settings(sys.argv[1]))
print(json.dumps([poll_feed(rt, int(i)).outcome for i in sys.argv[2:]]))
rt.close()
"""


def test_feed_polls_from_several_processes_respect_the_host_limit(tmp_path: Path, database_url: str) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    names = [f"f{i}" for i in range(8)]
    for name in names:
        (site_dir / f"{name}.rss.xml").write_bytes(rss([{"guid": name, "title": f"item {name}"}]))
    with GaugedSite(site_dir) as site:
        for name in names:
            site.set_delay(f"/{name}.rss.xml", 0.5)
        feeds_ = [
            {"name": n, "url": f"{site.url}{n}.rss.xml", "allow_private": True, "interval": 60} for n in names
        ]
        rt = runtime(tmp_path, feeds_=feeds_, database_url=database_url, extra=_politeness(2, SPACING))
        sync_feeds(rt)
        ids = [str(feed_id(rt, n)) for n in names]
        config = str(tmp_path / "newswatch.yaml")
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _CHILD, config, *ids[i : i + 2]],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(0, 8, 2)
        ]
        outcomes = [o for child in children for o in json.loads(child.communicate(timeout=60)[0])]
        assert all(child.returncode == 0 for child in children)
        assert site.max_in_flight == 2  # the limit was reached, never exceeded
        assert site.min_gap() >= SPACING - TOLERANCE
        assert set(outcomes) <= {"fetched", "deferred"} and outcomes.count("fetched") >= 4
        assert sum(site.hits.values()) == outcomes.count("fetched")
        for name, outcome in zip(names, outcomes, strict=True):
            row = feed_row(rt, name)
            assert row.error_streak == 0 and row.last_error is None
            if outcome == "deferred":  # rescheduled soon through the store, not failed
                assert row.lease_until == 0.0 and 1.0 <= row.next_check_at - rt.clock() <= 60
        rt.close()


def _article_site(tmp_path: Path, n: int) -> Path:
    site_dir = tmp_path / "site"
    (site_dir / "a").mkdir(parents=True)
    pages = sorted((SEEDS / "site" / "articles").glob("*.html"))
    items = []
    for i in range(n):
        shutil.copy(pages[i % len(pages)], site_dir / "a" / f"p{i}.html")
        items.append(
            {"guid": f"g{i}", "title": f"story {i}", "link": f"a/p{i}.html", "description": "feed text"}
        )
    (site_dir / "feed.rss.xml").write_bytes(rss(items))
    return site_dir


def test_article_fetches_from_several_workers_respect_the_host_limit(
    tmp_path: Path, database_url: str
) -> None:
    with GaugedSite(_article_site(tmp_path, 6)) as site:
        feeds_ = [{"name": "news", "url": f"{site.url}feed.rss.xml", "allow_private": True, "interval": 60}]
        rt = runtime(tmp_path, feeds_=feeds_, database_url=database_url, extra=_politeness(1, SPACING))
        sync_feeds(rt)
        new_ids = poll_feed(rt, feed_id(rt, "news")).new_entry_ids
        assert len(new_ids) == 6
        for i in range(6):
            site.set_delay(f"/a/p{i}.html", 0.3)
        with site._gauge:
            site.starts.clear()
        outcomes: list[str] = []

        def work(entry_id: int) -> None:
            worker_rt = Runtime(rt.settings, clock=rt.clock)  # its own engine and client, like a process
            outcomes.append(process_entry(worker_rt, entry_id).outcome)
            worker_rt.close()

        threads = [threading.Thread(target=work, args=(i,)) for i in new_ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert outcomes == ["processed"] * 6
        assert site.max_in_flight == 1
        assert site.min_gap() >= SPACING - TOLERANCE
        with rt.engine.connect() as conn:
            assert set(conn.execute(select(articles.c.extracted_from)).scalars()) == {"page"}
        rt.close()


def test_a_busy_host_defers_polls_and_article_fetches_through_the_store(tmp_path: Path) -> None:
    with SiteServer(_article_site(tmp_path, 1)) as site:
        feeds_ = [{"name": "news", "url": f"{site.url}feed.rss.xml", "allow_private": True, "interval": 300}]
        rt = runtime(tmp_path, feeds_=feeds_, extra=_politeness(1, 0.0))
        sync_feeds(rt)
        fid = feed_id(rt, "news")
        limits = HostLimits(1, 0.0, 60.0)
        held = acquire(rt.engine, "127.0.0.1", limits, wait_s=1.0)  # another worker's long fetch
        began = time.monotonic()
        assert poll_feed(rt, fid).outcome == "deferred"
        assert time.monotonic() - began < 5  # a short bounded wait, not a sleep holding the worker
        row = feed_row(rt, "news")
        assert site.hits["/feed.rss.xml"] == 0 and row.error_streak == 0 and row.last_error is None
        assert 1.0 <= row.next_check_at - rt.clock() <= 300
        release(rt.engine, held)
        (entry_id,) = poll_feed(rt, fid).new_entry_ids
        held = acquire(rt.engine, "127.0.0.1", limits, wait_s=1.0)
        assert process_entry(rt, entry_id).outcome == "deferred"
        with rt.engine.connect() as conn:
            state = conn.execute(select(entries.c.state).where(entries.c.id == entry_id)).scalar_one()
        assert state == "new" and count(rt, articles) == 0 and site.hits["/a/p0.html"] == 0
        release(rt.engine, held)
        rt.clock.now += 10  # type: ignore[attr-defined]  # past delivery.requeue_after_s
        assert entry_id in sweep(rt).entry_ids  # the sweeper hands it out again
        assert process_entry(rt, entry_id).outcome == "processed"
        rt.close()


def test_a_crashed_holders_slot_frees_itself_when_its_lease_expires(tmp_path: Path) -> None:
    rt = runtime(tmp_path, feeds_=[])
    paced = HostLimits(2, 1.0, 30.0)
    acquire(rt.engine, "paced.example", paced, wait_s=0.0)
    with pytest.raises(HostBusy):  # a free slot, but the next start is a spacing away
        acquire(rt.engine, "paced.example", paced, wait_s=0.0)
    limits = HostLimits(1, 0.0, 0.5)
    acquire(rt.engine, "example.org", limits, wait_s=0.0)  # its holder crashes: never released
    with pytest.raises(HostBusy):  # the only slot is held
        acquire(rt.engine, "example.org", limits, wait_s=0.0)
    acquire(rt.engine, "other.example", limits, wait_s=0.0)  # hosts are independent
    time.sleep(0.6)
    acquire(rt.engine, "example.org", limits, wait_s=0.0)  # the lease expired: the slot is free
    rt.close()
