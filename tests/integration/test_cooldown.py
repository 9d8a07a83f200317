"""`messages.cooldown` and `messages.quiet_hours` through the real pipeline functions and real
webhook receivers, on an injected clock. Cooldown: on a
channel with a cooldown a watch is shown once per cooldown (a story whose watches were all shown
there lately is not sent there); a watch with a cooldown is shown once on every channel."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.helpers import SEEDS, write_config
from tests.support.clock import Clock
from tests.support.receivers import WebhookReceiver
from worker.config import load_settings
from worker.oneshot import run_once
from worker.runtime import Runtime


@pytest.mark.delivers
def test_a_channel_cooldown_holds_other_stories_and_a_watch_cooldown_drops_that_watch(tmp_path: Path) -> None:
    with WebhookReceiver() as quiet, WebhookReceiver() as busy:
        config = write_config(
            tmp_path,
            feeds=[{"name": "seeds", "path": str(SEEDS / "site" / "feed.rss.xml"), "interval": 60}],
            channels={"quiet": [quiet.apprise_url()], "busy": [busy.apprise_url()]},
            extra={"messages": {"cooldown": {"channels": {"quiet": "1h"}, "watches": {"iran": "1d"}}}},
        )
        rt = Runtime(load_settings(config), clock=Clock())
        report = run_once(rt)
        assert report.entries_processed == 5 and report.deliveries_failed == 0
        stories = len({b["title"] for b in (r.json for r in busy.requests)})
        assert len(busy.requests) == stories >= 3  # no cooldown on `busy`: every story's message
        shown = re.compile(r"^- .* \[(\w+)\] — score", re.M)
        bodies = [r.json["message"] for r in busy.requests]
        assert sum("[iran]" in b for b in bodies) == 1, bodies  # Iran: once a day, on every channel
        seen: set[str] = set()
        expected = []  # what `quiet` must get: per story, the watches not shown there yet
        for body in bodies:
            fresh = set(shown.findall(body)) - seen
            seen |= fresh
            if fresh:
                expected.append(fresh)
        got = [set(shown.findall(r.json["message"])) for r in quiet.requests]
        assert got == expected and 1 <= len(got) < len(bodies), (got, expected)
        with rt.engine.connect() as conn:
            items = [json.loads(i) for (i,) in conn.exec_driver_sql("SELECT items_json FROM messages")]
        assert len(items) == stories  # the store keeps every story's full match record
        assert all(any(i["watch_id"] == "iran" for i in m) for m in items)
        rt.close()


@pytest.mark.delivers
def test_quiet_hours_hold_a_channel_until_their_end_except_a_bypassing_watch(tmp_path: Path) -> None:
    from worker.delivery import send_delivery, sweep

    clock = Clock(datetime(2026, 3, 10, 23, 30, tzinfo=UTC).timestamp())  # 01:30 in Riyadh
    end = datetime(2026, 3, 11, 4, 0, tzinfo=UTC).timestamp()  # 07:00 in Riyadh
    with WebhookReceiver() as night, WebhookReceiver() as day:
        config = write_config(
            tmp_path,
            feeds=[{"name": "seeds", "path": str(SEEDS / "site" / "feed.rss.xml"), "interval": 60}],
            channels={"night": [night.apprise_url()], "day": [day.apprise_url()]},
            extra={"messages": {"quiet_hours": {"night": {
                "start": "22:00", "end": "07:00", "timezone": "Asia/Riyadh", "bypass_watches": ["putin"]}}}},
        )
        rt = Runtime(load_settings(config), clock=clock)
        report = run_once(rt)
        n = len(day.requests)
        assert n >= 3 and report.deliveries_failed == 0
        # only the story that names Putin (seed 004) goes out at night
        assert len(night.requests) == 1 and "[putin]" in night.requests[0].json["message"]
        with rt.engine.connect() as conn:
            held = conn.exec_driver_sql(
                "SELECT next_attempt_at FROM deliveries WHERE channel = 'night' AND state = 'pending'").all()
        assert len(held) == n - 1 and {t for (t,) in held} == {end}
        clock.now = end - 1
        assert sweep(rt).delivery_ids == ()  # nothing is due before the window ends
        clock.now = end + 1
        for delivery_id in sweep(rt).delivery_ids:
            assert send_delivery(rt, delivery_id).state == "sent"
        keys = [r.headers.get("x-newswatch-idempotency") for r in night.requests]
        assert len(night.requests) == n and len(set(keys)) == n  # every message once, in the morning
        rt.close()
