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
def test_quiet_hours_collect_a_channel_into_one_digest_at_their_end_except_a_bypassing_watch(
    tmp_path: Path,
) -> None:
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
                "SELECT next_attempt_at FROM deliveries WHERE channel = 'night' AND state = 'held'").all()
        assert len(held) == n - 1 and {t for (t,) in held} == {end}
        clock.now = end - 1
        assert sweep(rt).delivery_ids == ()  # nothing is due before the window ends
        clock.now = end + 1
        carriers = sweep(rt).delivery_ids
        assert len(carriers) == 1  # what the night held goes out as ONE digest in the morning
        assert send_delivery(rt, carriers[0]).state == "sent"
        assert sweep(rt).delivery_ids == ()
        assert len(night.requests) == 2
        digest = night.requests[1]
        body = digest.json["message"]
        assert body.startswith(f"Held during quiet hours: {n - 1} stories, {n - 1} messages")
        assert len(re.findall(r"^\d+\. Story \d+", body, re.M)) == n - 1 and "[putin]" not in body
        assert digest.headers["x-newswatch-idempotency"].startswith(f"newswatch-digest-{carriers[0]}-")
        with rt.engine.connect() as conn:
            states = conn.exec_driver_sql(
                "SELECT state, digest_id, sent_at IS NOT NULL FROM deliveries WHERE channel = 'night'"
                " AND digest_id IS NOT NULL ORDER BY id").all()
        assert [s for s, _, _ in states] == ["sent", *["digested"] * (n - 2)]
        assert {d for _, d, _ in states} == {carriers[0]} and all(sent for _, _, sent in states)
        rt.close()
