"""End to end on real processes: feeds and pages over loopback HTTP, Celery worker and beat as
subprocesses, alerts through Apprise to a real webhook receiver and a real SMTP server.

Run on Redis (the production broker) and on the embedded defaults (SQLite store and broker)."""

from __future__ import annotations

import collections
import re
import shutil
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.helpers import SEEDS, expected_watches, write_config
from tests.support.receivers import SmtpReceiver, WebhookReceiver
from tests.support.services import NewswatchProcess, RedisServer, wait_until
from tests.support.site_server import SiteServer
from tests.support.store import sqlite_rows

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

IDEMPOTENCY = "x-newswatch-idempotency"


def _db(config: Path) -> sqlite3.Connection:
    return sqlite3.connect(config.parent / "data" / "newswatch.db", timeout=30)


def _query(config: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` on the worker's store; none while the worker has not created it yet."""
    return sqlite_rows(config.parent / "data" / "newswatch.db", sql)


def _fired(config: Path) -> dict[str, set[str]]:
    """Per article file stem: the watches that alerted."""
    rows = _query(config, "SELECT a.url, al.watch_id FROM alerts al JOIN articles a ON a.id = al.article_id")
    out: dict[str, set[str]] = collections.defaultdict(set)
    for url, watch in rows:
        out[Path(url).stem].add(watch)
    return out


def _delivery_states(config: Path) -> collections.Counter[str]:
    return collections.Counter(str(s) for (s,) in _query(config, "SELECT state FROM deliveries"))


def _assert_seed_alerts(config: Path, hook: WebhookReceiver, smtp: SmtpReceiver) -> int:
    """Wait for every delivery to be sent, then check the matches, one message per story and
    exactly-once per destination; returns the number of messages. The five seeds come from one
    outlet here, so 000 and 001 (a shared passage) stay apart; processed in parallel, out of
    order, 001 or 000 can join 003 (another Shoigu story): three to five stories."""
    expected = expected_watches()
    assert wait_until(lambda: len(_fired(config)) == len(expected), 90), f"articles alerted: {_fired(config)}"
    assert wait_until(lambda: set(_delivery_states(config)) == {"sent"}, 90), _delivery_states(config)
    n_messages = len(_query(config, "SELECT id FROM messages"))
    assert hook.wait_for(n_messages, 30) and smtp.wait_for(n_messages, 30)
    time.sleep(3)  # anything sent twice would arrive now
    for stem, (must, must_not) in expected.items():
        fired = _fired(config)[stem]
        assert must <= fired, f"{stem}: missing {must - fired}"
        assert not (must_not & fired), f"{stem}: must not fire {must_not & fired}"
    stories = _query(config, "SELECT DISTINCT m.story_id FROM story_members m JOIN alerts al"
                             " ON al.article_id = m.article_id")
    first = _query(config, "SELECT story_id FROM messages WHERE kind = 'first'")
    assert sorted(first) == sorted(stories) and n_messages == len(stories), (first, stories)
    assert len(expected) - 2 <= n_messages <= len(expected), n_messages
    keys = collections.Counter(r.headers.get(IDEMPOTENCY) for r in hook.requests)
    assert len(hook.requests) == n_messages and all(n == 1 for n in keys.values()), keys
    assert len(smtp.messages) == n_messages
    pages = yaml.safe_load((SEEDS / "expected_pages.yaml").read_text(encoding="utf-8"))["pages"]
    titles = {page["title"][:40] for page in pages}  # the headlines the site publishes
    for request in hook.requests:
        body = request.json
        assert any(t in body["title"] or t in body["message"] for t in titles), body["title"]
        assert "⟦" in body["message"]  # the evidence snippet with the hits marked
    subjects = {m["Subject"] for m in smtp.messages}
    assert all(s.startswith("[newswatch]") for s in subjects), subjects
    return n_messages


def _config(
    tmp_path: Path, site: SiteServer, hook: WebhookReceiver, smtp: SmtpReceiver, broker_url: str | None
) -> Path:
    return write_config(
        tmp_path,
        feeds=[
            {"name": "seeds-http", "url": f"{site.url}feed.rss.xml", "interval": 10, "allow_private": True}
        ],
        channels={"hook": [hook.apprise_url()], "mail": [smtp.apprise_url()]},
        broker_url=broker_url,
    )


def _site_without_ttl(tmp_path: Path) -> Path:
    """A copy of the seed site whose feed does not ask for a 15-minute TTL, so that the second,
    conditional poll comes after the configured 10 s interval."""
    root = tmp_path / "site"
    shutil.copytree(SEEDS / "site", root)
    feed = root / "feed.rss.xml"
    feed.write_text(re.sub(r"<ttl>\d+</ttl>", "", feed.read_text(encoding="utf-8")), encoding="utf-8")
    return root


@pytest.mark.delivers
def test_redis_worker_and_beat_deliver_each_message_once(tmp_path: Path) -> None:
    with (
        SiteServer(_site_without_ttl(tmp_path)) as site,
        WebhookReceiver() as hook,
        SmtpReceiver() as smtp,
        RedisServer(tmp_path / "redis") as redis,
    ):
        config = _config(tmp_path, site, hook, smtp, redis.url)
        with NewswatchProcess(config, "worker", "--concurrency", "2"), NewswatchProcess(config, "beat"):
            n_messages = _assert_seed_alerts(config, hook, smtp)
            # One full fetch; every later poll (interval 10 s, maybe already on a slow machine) is
            # conditional: 304, no parse, nothing sent.
            feed = "/feed.rss.xml"
            assert site.hits[feed] - site.not_modified[feed] == 1, (site.hits[feed], site.not_modified[feed])
            assert wait_until(lambda: site.not_modified["/feed.rss.xml"] >= 1, 30)
            time.sleep(3)
            assert len(hook.requests) == n_messages and len(smtp.messages) == n_messages
            with _db(config) as conn:
                (polls_ok,) = conn.execute("SELECT error_streak FROM feeds").fetchone()
            assert polls_ok == 0
            assert all(site.hits[f"/articles/{s}.html"] == 1 for s in expected_watches())


@pytest.mark.delivers
def test_embedded_defaults_run_without_redis(tmp_path: Path) -> None:
    with SiteServer(SEEDS / "site") as site, WebhookReceiver() as hook, SmtpReceiver() as smtp:
        config = _config(tmp_path, site, hook, smtp, broker_url=None)
        with NewswatchProcess(config, "run", env={"NEWSWATCH_BROKER_URL": ""}) as service:
            _assert_seed_alerts(config, hook, smtp)
            # Ctrl-C, as a person running `make run` stops it: the service must exit by itself
            assert service.stop(signal.SIGINT, timeout=30, group=False), "`newswatch run` ignored Ctrl-C"
        assert (tmp_path / "data" / "broker.db").exists()
