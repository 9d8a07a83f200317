"""Polls in batches (worker.polling.poll_feeds): one fetch per feed, each host's spacing and slot
limit kept across concurrent batches, hosts fetched at once, a store cost that does not grow
with the batch, and a feed whose last poll died polled on its own (real loopback servers on
three addresses, SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from tests.polite.support import GaugedSite, feed_id, feed_row, rss, runtime
from worker.polling import (
    FeedClaim,
    PollBatch,
    PollOutcome,
    claim_batches,
    claim_due,
    poll_feed,
    poll_feeds,
    sync_feeds,
)
from worker.runtime import Runtime
from worker.schema import feeds

pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.allow_hosts(["127.0.0.1", "127.0.0.2", "127.0.0.3", "::1"]),
]

SPACING = 0.3
TOLERANCE = 0.12  # a start is reserved before the request reaches the server; a loaded box adds jitter
HOSTS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
PER_HOST = 4
INTERVAL = 600


@contextmanager
def _sites(tmp_path: Path) -> Iterator[list[GaugedSite]]:
    with ExitStack() as stack:
        sites = []
        for h, host in enumerate(HOSTS):
            root = tmp_path / f"site{h}"
            root.mkdir()
            for i in range(PER_HOST):
                (root / f"f{i}.rss.xml").write_bytes(rss([{"guid": f"{h}-{i}", "title": f"item {h} {i}"}]))
            site = stack.enter_context(GaugedSite(root, host))
            for i in range(PER_HOST):
                site.set_delay(f"/f{i}.rss.xml", 0.05)
            sites.append(site)
        yield sites


def _runtime(tmp_path: Path, sites: list[GaugedSite], database_url: str) -> Runtime:
    feeds_ = [
        {"name": f"h{h}f{i}", "url": f"{site.url}f{i}.rss.xml", "allow_private": True, "interval": INTERVAL}
        for h, site in enumerate(sites)
        for i in range(PER_HOST)
    ]
    politeness = {"fetch": {"per_host_concurrency": 2, "per_host_spacing_s": SPACING}}
    rt = runtime(tmp_path, feeds_=feeds_, database_url=database_url, extra=politeness)
    sync_feeds(rt)
    return rt


@contextmanager
def _statements(rt: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):  # SQLite's explicit transaction start
            seen.append(statement[:60])

    event.listen(rt.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(rt.engine, "before_cursor_execute", count)


def test_batches_fetch_each_feed_once_keep_every_hosts_limits_and_cost_a_few_statements(
    tmp_path: Path, database_url: str
) -> None:
    with _sites(tmp_path) as sites:
        rt = _runtime(tmp_path, sites, database_url)
        by_name = {feed_id(rt, n): n for n in _names()}
        claims = {by_name[c.feed_id]: c for c in claim_due(rt)}
        # two batches at once, both with feeds of the first host
        first = [claims[n] for n in _names() if n not in ("h0f2", "h0f3")]
        second = [claims["h0f2"], claims["h0f3"]]
        outcomes: dict[str, PollBatch] = {}
        threads = [
            threading.Thread(target=lambda k=k, b=b: outcomes.__setitem__(k, poll_feeds(rt, b)))
            for k, b in (("first", first), ("second", second))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results = [r for batch in outcomes.values() for r in batch.results]
        assert sorted(r.feed for r in results) == sorted(_names())
        assert {r.outcome for r in results} == {PollOutcome.FETCHED}, results
        for site in sites:
            assert sorted(site.hits.values()) == [1] * PER_HOST  # one fetch per feed
            assert site.min_gap() >= SPACING - TOLERANCE  # the host's spacing, across both batches
            assert site.max_in_flight <= 2
        # the hosts are fetched at once, not one after another (that would take >= 6 spacings)
        firsts = [min(site.starts) for site in sites]
        assert max(firsts) - min(firsts) < 2 * SPACING

        # the next interval: twelve not-modified polls in one batch, a handful of statements
        rt.clock.now += INTERVAL  # type: ignore[attr-defined]
        again = claim_due(rt)
        with _statements(rt) as statements:
            batch = poll_feeds(rt, again)
        assert {r.outcome for r in batch.results} == {PollOutcome.NOT_MODIFIED}
        assert len(batch.results) == len(HOSTS) * PER_HOST
        assert len(statements) <= 7, statements  # one poll_feed per feed took about ten each
        for name in _names():
            row = feed_row(rt, name)
            assert row.polls == 2 and row.polls_not_modified == 1 and row.polling_until == 0.0
            assert row.next_check_at == rt.clock() + INTERVAL
        rt.close()


def _names() -> list[str]:
    return [f"h{h}f{i}" for h in range(len(HOSTS)) for i in range(PER_HOST)]


def test_a_feed_whose_last_poll_died_is_left_out_of_a_batch_and_polled_on_its_own(
    tmp_path: Path, database_url: str
) -> None:
    with _sites(tmp_path) as sites:
        rt = _runtime(tmp_path, sites, database_url)
        died = feed_id(rt, "h1f1")
        with rt.engine.begin() as conn:  # a poll started, then its process died: its lease expired
            conn.execute(update(feeds).where(feeds.c.id == died).values(polling_until=rt.clock() - 1))
        claims = claim_due(rt)
        batch = poll_feeds(rt, claims)
        (suspect,) = [c for c in claims if c.feed_id == died]
        assert batch.isolate == (suspect,)
        assert len(batch.results) == len(claims) - 1
        assert {r.outcome for r in batch.results} == {PollOutcome.FETCHED}
        assert sites[1].hits.get("/f1.rss.xml", 0) == 0  # not fetched with the others
        # polled alone, under the claim it was sent with (a batch of one is never isolated)
        assert poll_feed(rt, suspect.feed_id, suspect.claim).outcome == PollOutcome.FETCHED
        assert sites[1].hits["/f1.rss.xml"] == 1
        assert poll_feeds(rt, [FeedClaim(died, suspect.claim)]).results[0].outcome == PollOutcome.SUPERSEDED
        rt.close()


def test_batches_deal_out_the_hosts_in_turn(tmp_path: Path, database_url: str) -> None:
    # a host's feeds in one batch would be fetched one spacing apart while the other hosts idle
    with _sites(tmp_path) as sites:
        rt = _runtime(tmp_path, sites, database_url)
        host_of = {feed_id(rt, n): n[:2] for n in _names()}
        batches = claim_batches(rt, len(HOSTS))
        assert [sorted(host_of[c.feed_id] for c in b) for b in batches] == [["h0", "h1", "h2"]] * PER_HOST
        assert claim_batches(rt, len(HOSTS)) == []  # claimed: nothing is due until the next interval
        rt.close()
