"""The store and the pipeline functions over it, on SQLite and on a real PostgreSQL server.

The same code path runs on both: every test here is parametrised over the two backends."""

from __future__ import annotations

import collections
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy import inspect as inspect_db
from sqlalchemy.exc import IntegrityError

from tests.integration.helpers import SEEDS, expected_watches, write_config
from tests.support.clock import Clock
from tests.support.receivers import WebhookReceiver
from worker.config import load_settings
from worker.delivery import send_delivery, sweep
from worker.inspect import feed_health
from worker.oneshot import run_once
from worker.polling import claim_due_feeds, poll_feed, sync_feeds
from worker.processing import fail_entry, process_entry
from worker.runtime import Runtime
from worker.schema import alerts, articles, deliveries, entries, make_engine, messages, notices

pytestmark = pytest.mark.timeout(120)


def _runtime(tmp_path: Path, database_url: str, hook: WebhookReceiver, clock: Clock) -> Runtime:
    config = write_config(
        tmp_path,
        feeds=[{"name": "seeds", "path": str(SEEDS / "site" / "feed.rss.xml"), "interval": 60}],
        channels={"hook": [hook.apprise_url()]},
        database_url=database_url,
    )
    return Runtime(load_settings(config), clock=clock)


def _count(rt: Runtime, table: object) -> int:
    with rt.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


@pytest.mark.delivers
def test_one_pass_alerts_once_and_a_second_pass_sends_nothing(tmp_path: Path, database_url: str) -> None:
    clock = Clock()
    with WebhookReceiver() as hook:
        rt = _runtime(tmp_path, database_url, hook, clock)
        first = run_once(rt)
        assert first.feeds_polled == 1 and first.entries_processed == len(expected_watches())
        n_alerts = _count(rt, alerts)
        assert n_alerts >= sum(len(must) for must, _ in expected_watches().values())
        # one message per story: the five seed pages of one outlet, processed oldest first, are
        # five stories (000 and 001 share a passage, which within one outlet is boilerplate)
        n_messages = _count(rt, messages)
        assert n_messages == 5 and first.alerts_sent == n_messages == len(hook.requests)
        assert _count(rt, articles) == len(expected_watches())
        clock.now += 3600  # due again: same feed body, nothing new
        second = run_once(rt)
        assert second.feeds_polled == 1 and second.entries_processed == 0 and second.alerts_sent == 0
        assert len(hook.requests) == n_messages
        rt.close()


def test_each_feed_is_claimed_once_per_interval_by_competing_schedulers(
    tmp_path: Path, database_url: str
) -> None:
    clock = Clock()
    with WebhookReceiver() as hook:
        rt_a = _runtime(tmp_path, database_url, hook, clock)
        rt_b = Runtime(rt_a.settings, clock=clock)
        sync_feeds(rt_a)
        assert len(claim_due_feeds(rt_a)) == 1
        assert claim_due_feeds(rt_b) == []
        rt_a.close()
        rt_b.close()


@pytest.mark.delivers
def test_a_delivery_is_sent_once_even_when_its_task_runs_twice(tmp_path: Path, database_url: str) -> None:
    clock = Clock()
    with WebhookReceiver() as hook:
        rt = _runtime(tmp_path, database_url, hook, clock)
        hook.fail_next(1000, status=500)  # keep the first pass from delivering
        run_once(rt)
        with rt.engine.connect() as conn:
            delivery_id = conn.execute(select(deliveries.c.id).order_by(deliveries.c.id)).scalars().first()
        assert delivery_id is not None
        hook.recover()
        clock.now += 10_000
        assert send_delivery(rt, delivery_id).state == "sent"
        assert send_delivery(rt, delivery_id).state == "skipped"
        keys = collections.Counter(
            r.headers.get("x-newswatch-idempotency") for r in hook.requests if r.status == 200
        )
        assert sum(keys.values()) == 1
        rt.close()


def test_transient_failures_retry_with_backoff_then_fail_with_reason(
    tmp_path: Path, database_url: str
) -> None:
    clock = Clock()
    with WebhookReceiver() as hook:
        rt = _runtime(tmp_path, database_url, hook, clock)
        hook.fail_next(1000, status=500)
        run_once(rt)
        backoff = rt.settings.delivery.backoff_s
        with rt.engine.connect() as conn:
            states = collections.Counter(conn.execute(select(deliveries.c.state)).scalars())
        assert set(states) == {"pending"}
        assert sweep(rt).delivery_ids == ()  # not due before the backoff
        for delay in backoff:
            clock.now += delay + 1
            due = sweep(rt).delivery_ids
            assert len(due) == sum(states.values())
            for delivery_id in due:
                send_delivery(rt, delivery_id)
        with rt.engine.connect() as conn:
            rows = conn.execute(
                select(deliveries.c.state, deliveries.c.attempts, deliveries.c.last_error)
            ).all()
        assert all(r.state == "failed" and r.attempts == len(backoff) + 1 for r in rows)
        assert all(r.last_error and "500" in r.last_error for r in rows)
        assert all(hook.apprise_url() not in (r.last_error or "") for r in rows)
        rt.close()


def test_provider_retry_after_postpones_the_next_attempt(tmp_path: Path, database_url: str) -> None:
    clock = Clock()
    with WebhookReceiver() as hook:
        rt = _runtime(tmp_path, database_url, hook, clock)
        first_backoff = rt.settings.delivery.backoff_s[0]
        asked = first_backoff * 3
        hook.fail_next(1000, status=429, retry_after=asked)
        run_once(rt)
        with rt.engine.connect() as conn:
            rows = conn.execute(select(deliveries.c.state, deliveries.c.next_attempt_at)).all()
        assert rows and all(r.state == "pending" and r.next_attempt_at == clock.now + asked for r in rows)
        clock.now += first_backoff + 1
        assert sweep(rt).delivery_ids == (), "retried on our backoff, before the provider's Retry-After"
        hook.recover()
        clock.now += asked
        for delivery_id in sweep(rt).delivery_ids:
            assert send_delivery(rt, delivery_id).state == "sent"
        rt.close()


def test_lost_entries_are_found_by_the_sweeper(tmp_path: Path, database_url: str) -> None:
    clock = Clock()
    with WebhookReceiver() as hook:
        rt = _runtime(tmp_path, database_url, hook, clock)
        sync_feeds(rt)
        from worker.polling import poll_feed

        (feed_id,) = claim_due_feeds(rt)
        stored = poll_feed(rt, feed_id).new_entry_ids  # as if the worker died before enqueueing
        assert stored and sweep(rt).entry_ids == ()
        clock.now += rt.settings.delivery.requeue_after_s + 1
        assert sorted(sweep(rt).entry_ids) == sorted(stored)
        assert _count(rt, entries) == len(stored)
        rt.close()


def test_a_failed_entry_is_terminal_visible_and_never_offered_again(
    tmp_path: Path, database_url: str
) -> None:
    clock = Clock()
    with WebhookReceiver() as hook:
        rt = _runtime(tmp_path, database_url, hook, clock)
        sync_feeds(rt)
        (feed_id,) = claim_due_feeds(rt)
        first, *rest = poll_feed(rt, feed_id).new_entry_ids
        assert fail_entry(rt, first, "quarantined after 4 deliveries")
        assert not fail_entry(rt, first, "again"), "an entry fails once"
        clock.now += rt.settings.delivery.requeue_after_s + 1
        assert sorted(sweep(rt).entry_ids) == sorted(rest)
        assert process_entry(rt, first).outcome == "failed-already"
        (health,) = feed_health(rt)
        assert health.failed_entries == 1
        with rt.engine.connect() as conn:
            row = conn.execute(select(entries.c.state, entries.c.error).where(entries.c.id == first)).one()
        state, error = row
        assert (state, error) == ("failed", "quarantined after 4 deliveries")
        assert process_entry(rt, rest[0]).outcome == "processed"
        assert not fail_entry(rt, rest[0], "too late"), "a done entry cannot fail"
        rt.close()


def test_a_store_made_by_an_older_release_gains_the_new_columns(database_url: str) -> None:
    old = create_engine(database_url)
    with old.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE entries (id INTEGER PRIMARY KEY, feed_id INTEGER, key TEXT, state TEXT)"
        )
        conn.exec_driver_sql("INSERT INTO entries (id, feed_id, key, state) VALUES (1, 1, 'k', 'new')")
    old.dispose()
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(entries.update().values(error="e"))
        assert conn.execute(select(entries.c.key, entries.c.error)).one() == ("k", "e")
    engine.dispose()


def test_a_send_that_keeps_dying_midway_ends_failed(tmp_path: Path, database_url: str) -> None:
    clock = Clock()
    with WebhookReceiver() as hook:
        rt = _runtime(tmp_path, database_url, hook, clock)
        hook.fail_next(1000, status=500)
        run_once(rt)
        hook.recover()
        attempts_allowed = len(rt.settings.delivery.backoff_s) + 1
        with rt.engine.begin() as conn:  # as if every attempt so far died after claiming the row
            conn.execute(
                deliveries.update().values(
                    state="sending", attempts=attempts_allowed, lease_until=clock.now - 1
                )
            )
            delivery_id = conn.execute(select(deliveries.c.id)).scalars().first()
        assert delivery_id is not None
        assert send_delivery(rt, delivery_id).state == "failed"
        assert all(r.status != 200 for r in hook.requests)  # nothing sent on the give-up path
        rt.close()


def _open_store(url: str, start: Any, failures: Any) -> None:
    start.wait()
    try:
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(select(func.count()).select_from(entries))
        engine.dispose()
    except Exception as exc:  # reported to the parent: a child's traceback alone proves nothing
        failures.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_sqlite_store_together_all_succeed(tmp_path: Path) -> None:
    # Worker, beat and CLI start together on a fresh file: the switch to WAL must wait for the
    # others' locks instead of failing with "database is locked".
    ctx = multiprocessing.get_context("fork")
    for attempt in range(5):
        url = f"sqlite:///{tmp_path / f'fresh{attempt}.db'}"
        start, failures = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_open_store, args=(url, start, failures)) for _ in range(6)]
        for proc in procs:
            proc.start()
        start.set()
        for proc in procs:
            proc.join(60)
        assert all(proc.exitcode == 0 for proc in procs)
        assert failures.empty(), failures.get()


def test_a_store_whose_deliveries_require_an_alert_keeps_its_rows_and_takes_notices(
    database_url: str,
) -> None:
    """Stores of releases before the notices table have `deliveries.alert_id NOT NULL`."""
    engine = make_engine(database_url)
    with engine.begin() as conn:
        article = conn.execute(insert(articles).values(
            url_key="k", source="s", title="t", text="x", lang="en", extracted_from="feed", processed_at=1.0,
        ).returning(articles.c.id)).scalar_one()
        alert = conn.execute(insert(alerts).values(
            watch_id="w", watch_title="W", article_id=article, score=1.0, snippet="s", hits_json="[]",
            created_at=1.0,
        ).returning(alerts.c.id)).scalar_one()
        conn.execute(insert(deliveries).values(
            alert_id=alert, channel="c", destination="d", label="l", state="sent", attempts=1,
            next_attempt_at=0.0, lease_until=0.0, created_at=1.0))
        if conn.dialect.name == "sqlite":  # as an older release created it
            sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'deliveries'").scalar_one()
            older = sql.replace("alert_id INTEGER,", "alert_id INTEGER NOT NULL,")
            assert older != sql
            for index in inspect_db(conn).get_indexes("deliveries"):
                conn.exec_driver_sql(f'DROP INDEX "{index["name"]}"')
            conn.exec_driver_sql("ALTER TABLE deliveries RENAME TO d_old")
            conn.exec_driver_sql(older)
            conn.exec_driver_sql("INSERT INTO deliveries SELECT * FROM d_old")
            conn.exec_driver_sql("DROP TABLE d_old")
        else:
            conn.exec_driver_sql("ALTER TABLE deliveries ALTER COLUMN alert_id SET NOT NULL")
    engine.dispose()

    engine = make_engine(database_url)
    with engine.begin() as conn:
        found = inspect_db(conn)
        assert {c["name"]: c["nullable"] for c in found.get_columns("deliveries")}["alert_id"] is True
        indexes = {i["name"] for i in found.get_indexes("deliveries")}
        assert {"uq_deliveries_message_destination", "uq_deliveries_notice_destination"} <= indexes
        assert conn.execute(select(deliveries.c.alert_id, deliveries.c.state)).all() == [(alert, "sent")]
        notice = conn.execute(insert(notices).values(
            key="n", kind="feed_health", source="f", title="t", text="x", created_at=2.0,
        ).returning(notices.c.id)).scalar_one()
        row = {"notice_id": notice, "channel": "c", "destination": "d", "label": "l", "state": "pending",
               "attempts": 0, "next_attempt_at": 0.0, "lease_until": 0.0, "created_at": 2.0}
        conn.execute(insert(deliveries).values(**row))
        with pytest.raises(IntegrityError):  # still one delivery per (notice, destination)
            with conn.begin_nested():
                conn.execute(insert(deliveries).values(**row))
    engine.dispose()
