"""A poll carries its claim: when polls wait in the queue longer than the claim's lease, beat
claims the feed again on every tick, yet the feed is fetched once per interval — the first poll
to start consumes the claim and every other one drops out (real loopback server, injected clock)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.polite.support import feed_id, feed_row, rss, runtime
from tests.support.site_server import SiteServer
from worker.polling import FeedClaim, PollOutcome, claim_due, poll_feed, sync_feeds
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(60)
INTERVAL = 600


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "feed.rss.xml").write_bytes(rss([{"guid": "a", "title": "first"}]))
    return site


def _setup(tmp_path: Path, url: str) -> Runtime:
    feeds_ = [{"name": "f", "url": url, "allow_private": True, "interval": INTERVAL}]
    rt = runtime(tmp_path, feeds_=feeds_, extra={"fetch": {"per_host_spacing_s": 0}})
    sync_feeds(rt)
    return rt


def _backlog(rt: Runtime, ticks: int) -> list[FeedClaim]:
    """Beat ticks while no poll runs: each time the lease has run out, the feed is claimed again."""
    claims: list[FeedClaim] = []
    for _ in range(ticks):
        claims += claim_due(rt)
        rt.clock.now += rt.settings.service.lease_s + 1  # type: ignore[attr-defined]
    return claims


@pytest.mark.parametrize("order", ["oldest-first", "newest-first"])
def test_queue_wait_longer_than_the_lease_fetches_once_per_interval(tmp_path: Path, order: str) -> None:
    with SiteServer(_site(tmp_path)) as site:
        rt = _setup(tmp_path, f"{site.url}feed.rss.xml")
        claims = _backlog(rt, 4)
        assert len(claims) == 4 and len({c.claim for c in claims}) == 4  # four polls queued
        queue = claims if order == "oldest-first" else claims[::-1]
        outcomes = [poll_feed(rt, c.feed_id, c.claim).outcome for c in queue]
        assert site.hits["/feed.rss.xml"] == 1, outcomes
        assert outcomes.count(PollOutcome.FETCHED) == 1
        assert outcomes.count(PollOutcome.SUPERSEDED) == 3
        polled_at = rt.clock()
        # the next interval: one claim, one fetch
        rt.clock.now = polled_at + INTERVAL  # type: ignore[attr-defined]
        (again,) = claim_due(rt)
        assert poll_feed(rt, again.feed_id, again.claim).outcome == PollOutcome.NOT_MODIFIED
        assert site.hits["/feed.rss.xml"] == 2
        assert feed_row(rt, "f").polling_until == 0.0


def test_a_duplicated_poll_message_fetches_once(tmp_path: Path) -> None:
    with SiteServer(_site(tmp_path)) as site:
        rt = _setup(tmp_path, f"{site.url}feed.rss.xml")
        (claim,) = claim_due(rt)
        assert poll_feed(rt, claim.feed_id, claim.claim).outcome == PollOutcome.FETCHED
        assert poll_feed(rt, claim.feed_id, claim.claim).outcome == PollOutcome.SUPERSEDED
        assert site.hits["/feed.rss.xml"] == 1


def test_two_polls_of_one_feed_at_the_same_time_fetch_once(tmp_path: Path) -> None:
    with SiteServer(_site(tmp_path)) as site:
        site.set_delay("/feed.rss.xml", 1.0)
        rt = _setup(tmp_path, f"{site.url}feed.rss.xml")
        claims = _backlog(rt, 2)
        outcomes: list[str] = []
        threads = [
            threading.Thread(target=lambda c=c: outcomes.append(poll_feed(rt, c.feed_id, c.claim).outcome))
            for c in claims
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == [PollOutcome.FETCHED, PollOutcome.SUPERSEDED]
        assert site.hits["/feed.rss.xml"] == 1


def test_a_poll_whose_worker_died_does_not_block_the_feed(tmp_path: Path) -> None:
    with SiteServer(_site(tmp_path)) as site:
        rt = _setup(tmp_path, f"{site.url}feed.rss.xml")
        (claim,) = claim_due(rt)
        fid = feed_id(rt, "f")
        # as if a poll started and its process was killed: its running lease stays behind
        from sqlalchemy import update

        from worker.schema import feeds

        with rt.engine.begin() as conn:
            start = rt.clock()
            running = start + rt.settings.service.lease_s
            conn.execute(update(feeds).where(feeds.c.id == fid).values(polling_until=running))
        assert poll_feed(rt, fid, claim.claim).outcome == PollOutcome.SUPERSEDED
        rt.clock.now = start + rt.settings.service.lease_s + 1  # type: ignore[attr-defined]
        (fresh,) = claim_due(rt)
        assert poll_feed(rt, fid, fresh.claim).outcome == PollOutcome.FETCHED
        assert site.hits["/feed.rss.xml"] == 1


def test_beats_claiming_at_the_same_time_hand_each_due_feed_out_once(
    tmp_path: Path, database_url: str
) -> None:
    """`claim_due` claims every due feed in one statement: four beats (each its own runtime and
    connections) racing over 300 due feeds still claim each feed exactly once."""
    feeds_ = [
        {"name": f"f{i}", "url": f"http://127.0.0.1:9/f{i}.xml", "allow_private": True, "interval": INTERVAL}
        for i in range(300)
    ]
    for b in range(4):
        (tmp_path / f"beat{b}").mkdir()
    beats = [runtime(tmp_path / f"beat{b}", feeds_=feeds_, database_url=database_url) for b in range(4)]
    sync_feeds(beats[0])
    start = threading.Barrier(len(beats))
    claimed: list[list[FeedClaim]] = [[] for _ in beats]

    def beat(b: int) -> None:
        start.wait()
        for _ in range(3):
            claimed[b] += claim_due(beats[b])

    threads = [threading.Thread(target=beat, args=(b,)) for b in range(len(beats))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [c.feed_id for claims in claimed for c in claims]
    assert len(every) == 300 and len(set(every)) == 300  # each feed once, none left out
    assert claim_due(beats[0]) == []  # all leased now
    for rt in beats:
        rt.close()
