"""Outbox under contention and failing destinations; two schedulers by mistake."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from tasks.pipeline import SEND
from tests.faults.support import (
    FEED,
    IDEMPOTENCY,
    PASSWORD,
    TOKEN,
    assert_delivered,
    assert_healthy,
    fault_stack,
)
from tests.support.services import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.delivers, pytest.mark.timeout(150)]


def test_duplicate_send_messages_on_two_workers_send_once(tmp_path: Path) -> None:
    with fault_stack(tmp_path) as world:
        world.hook.set_delay(1.0)  # shorter than the send timeout (lease 8 s / 4)
        world.start("beat")
        world.worker(concurrency=1, name="w1")
        world.worker(concurrency=1, name="w2")
        assert wait_until(lambda: world.states()["sending"] >= 1, 60), world.states()
        ids = [i for (i,) in world.query("SELECT id FROM deliveries")]
        for delivery_id in ids * 2:  # every delivery twice more, some while it is being sent
            world.send_task(SEND, [delivery_id])
        world.hook.set_delay(0.2)
        assert world.wait_all_final(60), world.states()
        assert_delivered(world)
        assert_healthy(world)


def test_failing_destinations_retry_then_fail_while_the_good_one_sends_once(tmp_path: Path) -> None:
    with fault_stack(tmp_path, hooks=3, delivery={"lease_s": 5, "backoff_s": [1, 1]}) as world:
        good, broken, slow = world.receivers["hook"], world.receivers["hook1"], world.receivers["hook2"]
        broken.fail_next(10_000, status=500)
        slow.set_delay(3.0)  # longer than the send timeout (lease 5 s / 4)
        world.start("beat")
        world.worker(concurrency=4)
        assert world.wait_all_final(120), world.states()
        rows = world.query("SELECT channel, state, attempts, last_error FROM deliveries")
        for channel, state, attempts, error in rows:
            if channel == "hook":
                assert (state, attempts) == ("sent", 1), (channel, state, attempts, error)
            else:
                assert (state, attempts) == ("failed", 3), (channel, state, attempts, error)
                assert error and PASSWORD not in error and TOKEN not in error
                assert (
                    ("500" in error)
                    if channel == "hook1"
                    else any(w in error.lower() for w in ("timed out", "timeout", "connection error"))
                ), error
        n = len(rows) // 3
        assert len(good.requests) == n
        assert wait_until(lambda: len(broken.requests) == 3 * n and len(slow.requests) == 3 * n, 10)
        assert_delivered(world, broken=("hook1", "hook2"), timed_out=("hook2",))
        assert_healthy(world)


def test_provider_rate_limit_is_honoured_then_each_alert_sent_once(tmp_path: Path) -> None:
    wait_s = 6.0  # well beyond the configured backoff of 1 s
    with fault_stack(tmp_path, delivery={"backoff_s": [1, 1, 1]}) as world:
        world.hook.fail_next(3, status=429, retry_after=wait_s)
        world.start("beat")
        world.worker()
        assert world.wait_all_final(90), world.states()
        limited = [r for r in world.hook.requests if r.status == 429]
        assert len(limited) == 3
        accepted_at = {r.headers[IDEMPOTENCY]: r.at for r in world.hook.requests if r.status == 200}
        for first in limited:
            accepted = accepted_at[first.headers[IDEMPOTENCY]]
            assert accepted - first.at >= wait_s - 0.5, "retried before the provider's Retry-After"
        assert_delivered(world)
        assert_healthy(world)


def test_two_beats_poll_each_feed_once_per_interval(tmp_path: Path) -> None:
    with fault_stack(tmp_path) as world:
        # A second beat with its own schedule file (as on another machine), same store and broker.
        tree = yaml.safe_load(world.config.read_text(encoding="utf-8"))
        tree["service"]["database_url"] = f"sqlite:///{world.db_path}"
        tree["service"]["data_dir"] = str(tmp_path / "beat2")
        other = tmp_path / "beat2.yaml"
        other.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
        world.worker()
        world.start("beat")
        world.start("beat", config=other)
        assert wait_until(lambda: world.site.hits[FEED] >= 1, 30)
        time.sleep(22)  # the feed's interval is 10 s: polls at t, t+10, t+20
        assert 2 <= world.site.hits[FEED] <= 3, world.site.hits[FEED]
        assert world.wait_all_final(60), world.states()
        assert_delivered(world)
        assert_healthy(world)
