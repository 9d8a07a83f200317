"""`messages.digest` through the real pipeline functions, real Apprise, a real SMTP server and a
real webhook receiver, on an injected clock, on SQLite and PostgreSQL: a digest channel gets
nothing one by one; at the end of its period it gets ONE message listing every story collected
(an HTML e-mail with a text/plain alternative for `daily at 08:00` in London, a plain text body
for `hourly`), while a channel without a digest gets each story at once. Two sweepers flushing at
the same moment make one digest, and a sent digest is never sent again."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.helpers import SEEDS, write_config
from tests.support.clock import Clock
from tests.support.receivers import SmtpReceiver, WebhookReceiver
from worker.config import load_settings
from worker.delivery import send_delivery, sweep
from worker.digest_outbox import flush_due
from worker.oneshot import run_once
from worker.runtime import Runtime

pytestmark = pytest.mark.timeout(180)

START = datetime(2026, 3, 10, 10, 20, tzinfo=UTC).timestamp()
HOUR_END = datetime(2026, 3, 10, 11, 0, tzinfo=UTC).timestamp()
MORNING = datetime(2026, 3, 11, 8, 0, tzinfo=UTC).timestamp()  # 08:00 in London (GMT until 29 March)


def _held(rt: Runtime, channel: str) -> list[float]:
    with rt.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT next_attempt_at FROM deliveries WHERE channel = ? AND state = 'held'"
            .replace("?", "%s" if rt.engine.dialect.paramstyle != "qmark" else "?"), (channel,)).all()
    return [t for (t,) in rows]


def _flush_while_another_flushes(rt: Runtime, now: float) -> list[int]:
    """Sweeper A flushes and holds its transaction open while sweeper B flushes the same rows
    (B reads them as still held, then waits on A's locks); the carriers both made."""
    made: list[int] = []

    def other() -> None:
        with rt.engine.begin() as conn:
            made.extend(flush_due(conn, now))

    with rt.engine.connect() as conn:
        tx = conn.begin()
        made += flush_due(conn, now)
        b = threading.Thread(target=other)
        b.start()
        b.join(1.0)  # B is now waiting for A's row locks (PostgreSQL) or write lock (SQLite)
        tx.commit()
    b.join(30)
    assert not b.is_alive()
    return made


@pytest.mark.delivers
def test_digest_channels_get_one_message_per_period_listing_every_story(
    tmp_path: Path, database_url: str
) -> None:
    with SmtpReceiver() as smtp, WebhookReceiver() as hourly, WebhookReceiver() as live:
        config = write_config(
            tmp_path, database_url=database_url,
            feeds=[{"name": "seeds", "path": str(SEEDS / "site" / "feed.rss.xml"), "interval": 60}],
            channels={"mail": [smtp.apprise_url()], "hourly": [hourly.apprise_url()],
                      "live": [live.apprise_url()]},
            extra={"messages": {"digest": {"mail": {"every": "daily at 08:00", "timezone": "Europe/London"},
                                           "hourly": "hourly"}}},
        )
        clock = Clock(START)
        rt = Runtime(load_settings(config), clock=clock)
        report = run_once(rt)
        stories = len(live.requests)
        assert stories >= 3 and report.deliveries_failed == 0  # the live channel: each story at once
        assert hourly.requests == [] and smtp.messages == []
        assert _held(rt, "hourly") == [HOUR_END] * stories and _held(rt, "mail") == [MORNING] * stories

        clock.now = HOUR_END - 1
        assert sweep(rt).delivery_ids == ()  # nothing before the hour ends
        clock.now = HOUR_END + 1
        carriers = _flush_while_another_flushes(rt, clock.now)
        assert len(carriers) == 1  # two sweepers, one digest
        (carrier,) = sweep(rt).delivery_ids
        assert carrier == carriers[0]
        assert send_delivery(rt, carrier).state == "sent"
        assert send_delivery(rt, carrier).state == "skipped"  # a repeated task sends nothing
        (request,) = hourly.requests
        body = request.json["message"]
        assert body.startswith(f"Hourly digest: {stories} stories, {stories} messages")
        assert len(re.findall(r"^\d+\. Story \d+", body, re.M)) == stories
        assert request.headers["x-newswatch-idempotency"].startswith(f"newswatch-digest-{carrier}-")
        assert smtp.messages == [] and len(_held(rt, "mail")) == stories  # the e-mail waits for morning

        clock.now = MORNING + 1
        (mail_carrier,) = sweep(rt).delivery_ids
        assert send_delivery(rt, mail_carrier).state == "sent"
        assert smtp.wait_for(1, 10)
        (mail,) = smtp.messages
        assert mail["Subject"].startswith(f"[newswatch] Daily digest: {stories} stories")
        parts = list(mail.iter_parts())
        assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
        plain, html = (p.get_content() for p in parts)
        assert "<p" not in plain and "Daily digest" in plain
        assert html.count('dir="auto"') > stories and len(re.findall(r"<strong>\d+\. Story", html)) == stories
        assert sweep(rt).delivery_ids == () and len(live.requests) == stories and len(hourly.requests) == 1
        with rt.engine.connect() as conn:
            states = dict(conn.exec_driver_sql(
                "SELECT state, COUNT(*) FROM deliveries WHERE channel <> 'live' GROUP BY state").all())
            unsent = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM deliveries WHERE channel <> 'live' AND sent_at IS NULL").scalar()
        assert states == {"sent": 2, "digested": 2 * (stories - 1)} and unsent == 0
        rt.close()
