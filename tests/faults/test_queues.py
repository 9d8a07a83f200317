"""Sends have their own queue, served first by every worker: an alert sent while a backlog of
process_entry messages waits goes out at once; and a backlog's entries wait on their own queue,
so a fresh item is processed before them. On the embedded SQLite broker and on Redis."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from tasks.pipeline import POLL, PROCESS, SEND
from tests.faults.brokers import BROKERS, broker_service, publish
from tests.faults.support import IDEMPOTENCY, Stack, fault_stack
from tests.support.services import wait_until
from worker.broker import POLLS, PROCESSING, SENDS

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(240)]

BACKLOG, PAGE_DELAY_S = 40, 1.5  # 30 s of work for two pool processes


def _write(world: Stack, sql: str, *params: object) -> int:
    conn = sqlite3.connect(world.db_path, timeout=30)
    try:
        with conn:
            cur = conn.execute(sql, params)
            return int(cur.lastrowid or 0)
    finally:
        conn.close()


def _backlog_entries(world: Stack) -> list[int]:
    ((feed_id,),) = world.query("SELECT id FROM feeds")
    ids = []
    for i in range(BACKLOG):
        path = f"/backlog/{i}.html"
        world.site.set_delay(path, PAGE_DELAY_S)
        ids.append(
            _write(
                world,
                "INSERT INTO entries (feed_id, key, link, canonical_link, title, summary, content, seen_at,"
                " state, enqueued_at) VALUES (?, ?, ?, ?, ?, 'backfill', '', ?, 'new', ?)",
                feed_id,
                f"backlog-{i}",
                f"{world.site.url.rstrip('/')}{path}",
                f"{world.site.url.rstrip('/')}{path}",
                f"backlog {i}",
                time.time(),
                time.time() + 3600,
            )
        )
    return ids


def _breaking_delivery(world: Stack) -> tuple[int, str]:
    """A new alert with one pending delivery to the webhook; returns (delivery id, its key)."""
    ((article_id, destination, label),) = world.query(
        "SELECT al.article_id, d.destination, d.label FROM deliveries d JOIN alerts al ON al.id = d.alert_id"
        " LIMIT 1"
    )
    now = time.time()
    alert_id = _write(
        world,
        "INSERT INTO alerts (watch_id, watch_title, article_id, score, snippet, hits_json, created_at)"
        " VALUES ('breaking', 'Breaking', ?, 3.0, 'breaking news', '[]', ?)",
        article_id,
        now,
    )
    delivery_id = _write(
        world,
        "INSERT INTO deliveries (alert_id, channel, destination, label, state, attempts, next_attempt_at,"
        " lease_until, enqueued_at, created_at) VALUES (?, 'hook', ?, ?, 'pending', 0, 0, 0, ?, ?)",
        alert_id,
        destination,
        label,
        now + 3600,
        now,
    )
    return delivery_id, f"newswatch-{alert_id}-{destination}"


@pytest.mark.parametrize("broker", BROKERS)
def test_a_send_is_not_stuck_behind_a_backlog_of_process_messages(tmp_path: Path, broker: str) -> None:
    with fault_stack(tmp_path, service=broker_service(tmp_path, broker)) as world:
        beat = world.start("beat")
        world.worker(concurrency=2)
        assert world.wait_all_final(90), world.states()
        beat.stop()  # no sweeper from here on: every message below is one the test sent
        entry_ids = _backlog_entries(world)
        for entry_id in entry_ids:
            publish(world, broker, PROCESS, [entry_id], PROCESSING)
        assert wait_until(lambda: sum(world.site.hits[f"/backlog/{i}.html"] for i in range(BACKLOG)) >= 2, 60)
        delivery_id, key = _breaking_delivery(world)
        sent_at = time.monotonic()
        publish(world, broker, SEND, [delivery_id], SENDS)

        def arrived() -> bool:
            return any(r.headers.get(IDEMPOTENCY) == key for r in world.hook.requests)

        assert wait_until(arrived, 120), "the send never arrived"
        latency = time.monotonic() - sent_at
        processed = world.query(
            f"SELECT COUNT(*) FROM entries WHERE state = 'done' AND id IN ({','.join(map(str, entry_ids))})"
        )[0][0]
        print(f"{broker}: send latency {latency:.2f} s; backlog entries done first: {processed}/{BACKLOG}")
        # FIFO behind the backlog would mean ~BACKLOG × delay / 2 s and nearly every entry done first
        assert processed <= BACKLOG // 2, f"the send waited for {processed} of {BACKLOG} backlog entries"
        assert latency < 15, f"the send took {latency:.1f} s behind the backlog"
        for i in range(BACKLOG):
            world.site.set_delay(f"/backlog/{i}.html", 0)


def _add_items(world: Stack, slugs: list[str]) -> None:
    """Put items for `slugs` at the top of the site's feed (their pages need not exist: a page
    that is missing falls back to the item's own text)."""
    items = "".join(
        f"<item><title>{slug}</title><link>{world.site.url}{slug}.html</link>"
        f'<guid isPermaLink="false">queues:{slug}</guid><description>{slug}</description></item>\n  '
        for slug in slugs
    )
    feed = world.site.root / "feed.rss.xml"
    feed.write_text(feed.read_text(encoding="utf-8").replace("<item>", items + "<item>", 1), encoding="utf-8")


@pytest.mark.parametrize("broker", BROKERS)
def test_a_fresh_item_is_processed_before_a_backlog_that_arrived_first(tmp_path: Path, broker: str) -> None:
    with fault_stack(tmp_path, service=broker_service(tmp_path, broker)) as world:
        beat = world.start("beat")
        world.worker(concurrency=2)
        assert world.wait_all_final(90), world.states()
        beat.stop()  # from here on, the only polls are the two the test sends
        ((feed_id,),) = world.query("SELECT id FROM feeds")
        backlog = [f"backlog/{i}" for i in range(BACKLOG)]
        for slug in backlog:
            world.site.set_delay(f"/{slug}.html", PAGE_DELAY_S)
        _add_items(world, backlog)  # one poll brings 40 new entries: a backlog
        publish(world, broker, POLL, [feed_id], POLLS)

        def hits() -> int:
            return sum(world.site.hits[f"/{slug}.html"] for slug in backlog)

        assert wait_until(lambda: hits() >= 2, 60), world.logs()
        _add_items(world, ["breaking"])  # the next poll brings one fresh entry
        publish(world, broker, POLL, [feed_id], POLLS)
        assert wait_until(lambda: world.site.hits["/breaking.html"] >= 1, 60), world.logs()
        done_first = hits()
        print(f"{broker}: backlog pages fetched before the fresh item: {done_first}/{BACKLOG}")
        # FIFO behind the backlog would fetch nearly every backlog page first
        assert done_first <= BACKLOG // 2, f"the fresh item waited for {done_first} of {BACKLOG} entries"
        for slug in backlog:
            world.site.set_delay(f"/{slug}.html", 0)
