"""A follow-up held back by `messages.followup_min_interval_s` goes out once the interval has
passed, even when the story brings no further article — through the real pipeline functions, two
loopback outlets and a real webhook receiver, on an injected clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.integration.helpers import write_config
from tests.integration.test_story_messages import FIRST, SECOND, _outlet
from tests.support.clock import Clock
from tests.support.receivers import WebhookReceiver
from tests.support.site_server import SiteServer
from worker.config import load_settings
from worker.delivery import send_delivery, sweep
from worker.oneshot import run_once
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(180)
INTERVAL = 600


@pytest.mark.delivers
def test_a_held_followup_is_sent_when_its_interval_has_passed(tmp_path: Path, database_url: str) -> None:
    clock = Clock(time.time())
    with ExitStack() as stack:
        # the same event from two outlets: the second report is a material change (outlets 1 → 2)
        sites = {name: stack.enter_context(SiteServer(_outlet(tmp_path / name, [stem], clock.now)))
                 for name, stem in (("a", FIRST), ("b", SECOND))}
        hook = stack.enter_context(WebhookReceiver())
        config = write_config(
            tmp_path, database_url=database_url, channels={"desk": [hook.apprise_url()]},
            feeds=[{"name": f"outlet-{n}", "url": f"{s.url}feed.rss.xml", "interval": 60,
                    "allow_private": True, "backfill": "24h"} for n, s in sites.items()],
            extra={"messages": {"followup_min_interval_s": INTERVAL}, "fetch": {"per_host_spacing_s": 0}},
        )
        rt = Runtime(load_settings(config), clock=clock)
        start = clock.now
        assert run_once(rt).deliveries_failed == 0
        assert len(hook.requests) == 1  # the first report; the second outlet's is held by the interval
        with rt.engine.connect() as conn:
            ((due,),) = conn.exec_driver_sql(
                "SELECT followup_due_at FROM stories WHERE followup_due_at IS NOT NULL").all()
        assert due == pytest.approx(start + INTERVAL, abs=5)

        clock.now = due - 1
        assert sweep(rt).delivery_ids == () and len(hook.requests) == 1  # not before the interval ends
        clock.now = due + 1
        (delivery,) = sweep(rt).delivery_ids
        assert send_delivery(rt, delivery).state == "sent"
        assert sweep(rt).delivery_ids == ()  # once
        assert len(hook.requests) == 2
        update = hook.requests[1].json
        assert update["title"].startswith("[newswatch] update:") and "outlets 1 → 2" in update["message"]
        with rt.engine.connect() as conn:
            kinds = [k for (k,) in conn.exec_driver_sql("SELECT kind FROM messages ORDER BY id")]
            held = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM stories WHERE followup_due_at IS NOT NULL").scalar()
        assert kinds == ["first", "followup"] and held == 0
        rt.close()
