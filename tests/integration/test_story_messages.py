"""One message per story per channel. With real processes: redis-server, two Celery workers and
beat, four loopback outlets (site servers) publishing the same story — seed 000 on three of them
(syndicated copies) and seed 001 (the same event, another outlet quoting the same passage) on the
fourth — and two webhook channels.

Expected: the four articles are one story; each channel gets ONE first message and, with the
follow-up policy set to no minimum interval and a daily cap of 1, exactly one follow-up (the
outlet count crossing 2; crossing 3 is held by the cap), each accepted once. An old entry on
a feed's first poll (published three days ago, `backfill` 24 h by default) is recorded as seen
and never processed or alerted. A burst from five outlets survives the worker fetching one of
them being killed and replaced: nothing lost, nothing sent twice. In process (`run_once`): 000
and 001 from two outlets with the default policy are one story and one message."""

from __future__ import annotations

import collections
import json
import re
import signal
import time
from contextlib import ExitStack
from email.utils import formatdate
from pathlib import Path

import psutil
import pytest

from tests.integration.helpers import SEEDS, write_config
from tests.support.receivers import WebhookReceiver
from tests.support.services import NewswatchProcess, RedisServer, wait_until
from tests.support.site_server import SiteServer
from tests.support.store import sqlite_rows

IDEMPOTENCY = "x-newswatch-idempotency"
FIRST, SECOND, OLD = "000_6085b7264f9884e6", "001_f29800354f5cf40f", "004_c4a9f35214ecb214"
OUTLETS = (("a", [FIRST, OLD]), ("b", [SECOND]), ("c", [FIRST]), ("d", [FIRST]))

pytestmark = pytest.mark.timeout(240)


def _item(stem: str, published: float) -> str:
    """The seed feed's item for `stem`, dated `published`, without its TTL-bearing channel."""
    feed = (SEEDS / "site" / "feed.rss.xml").read_text(encoding="utf-8")
    item = next(i for i in re.findall(r"<item>.*?</item>", feed, re.S) if f"articles/{stem}.html" in i)
    return re.sub(r"<pubDate>.*?</pubDate>", f"<pubDate>{formatdate(published)}</pubDate>", item)


def _outlet(root: Path, stems: list[str], now: float) -> Path:
    """A site publishing `stems` (the old seed dated three days ago, the others minutes ago)."""
    (root / "articles").mkdir(parents=True)
    items = []
    for stem in stems:
        html = (SEEDS / "site" / "articles" / f"{stem}.html").read_text(encoding="utf-8")
        (root / "articles" / f"{stem}.html").write_text(html, encoding="utf-8")
        items.append(_item(stem, now - 3 * 86_400 if stem == OLD else now - 600))
    (root / "feed.rss.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/'
        f'modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>{root.name}</title>'
        f"<link>https://{root.name}.example/</link><description>d</description>{''.join(items)}"
        "</channel></rss>",
        encoding="utf-8",
    )
    return root


_query = sqlite_rows


@pytest.mark.delivers
def test_one_story_from_four_outlets_is_one_message_per_channel_plus_capped_followups(tmp_path: Path) -> None:
    now = time.time()
    with ExitStack() as stack:
        sites = {name: stack.enter_context(SiteServer(_outlet(tmp_path / name, stems, now)))
                 for name, stems in OUTLETS}
        hooks = {name: stack.enter_context(WebhookReceiver()) for name in ("desk", "phone")}
        redis = stack.enter_context(RedisServer(tmp_path / "redis"))
        feeds = [{"name": f"outlet-{n}", "url": f"{s.url}feed.rss.xml", "interval": 10, "allow_private": True,
                  "backfill": "24h"} for n, s in sites.items()]
        config = write_config(
            tmp_path, feeds=feeds, channels={n: [h.apprise_url()] for n, h in hooks.items()},
            broker_url=redis.url,
            extra={"messages": {"followup_min_interval_s": 0, "followup_daily_cap": 1},
                   "fetch": {"per_host_spacing_s": 0}},
        )
        db = tmp_path / "data" / "newswatch.db"
        stack.enter_context(NewswatchProcess(config, "worker", "--concurrency", "1", "--hostname", "w1@%h"))
        stack.enter_context(NewswatchProcess(config, "worker", "--concurrency", "1", "--hostname", "w2@%h"))
        stack.enter_context(NewswatchProcess(config, "beat"))

        def settled() -> bool:
            entries = {s for (s,) in _query(db, "SELECT state FROM entries")}
            states = {s for (s,) in _query(db, "SELECT state FROM deliveries")}
            n = len(_query(db, "SELECT id FROM entries"))
            return n == 5 and entries == {"done"} and states == {"sent"}

        assert wait_until(settled, 120), _query(db, "SELECT link, state, error FROM entries")
        time.sleep(3)  # anything sent twice would arrive now

        # the old entry: seen, never processed, never alerted
        ((old_state, old_article),) = _query(db, "SELECT state, article_id FROM entries WHERE link LIKE ?",
                                             f"%{OLD}%")
        assert (old_state, old_article) == ("done", None)
        assert sites["a"].hits[f"/articles/{OLD}.html"] == 0

        # one story: every processed article, from four outlets
        members = _query(db, "SELECT story_id, source FROM story_members")
        assert len(members) == 4 and len({s for s, _ in members}) == 1, members
        assert len({o for _, o in members}) == 4, members
        (story,) = {s for s, _ in members}

        messages = _query(db, "SELECT id, kind, revision, reason, items_json FROM messages"
                              " WHERE story_id = ?", story)
        kinds = collections.Counter(k for _, k, *_ in messages)
        assert kinds == {"first": 1, "followup": 1}, messages
        assert len(_query(db, "SELECT id FROM messages")) == 2
        followup = next(m for m in messages if m[1] == "followup")
        assert "outlets 1 → 2" in followup[3], followup
        first = next(m for m in messages if m[1] == "first")
        assert {"shoigu", "iran", "russia"} <= {i["watch_id"] for i in json.loads(first[4])}

        keys = {f"newswatch-s{story}-r{rev}-{d}"
                for m, _, rev, _, _ in messages
                for (d,) in _query(db, "SELECT destination FROM deliveries WHERE message_id = ?", m)}
        deliveries = _query(db, "SELECT message_id, channel FROM deliveries")
        assert collections.Counter(deliveries) == {(m[0], c): 1 for m in messages for c in hooks}, deliveries
        for name, hook in hooks.items():
            accepted = collections.Counter(r.headers.get(IDEMPOTENCY) for r in hook.requests
                                           if 200 <= r.status < 300)
            assert len(hook.requests) == 2 and set(accepted.values()) == {1}, (name, accepted)
            assert set(accepted) <= keys and len(accepted) == 2, (name, accepted, keys)
            bodies = [r.json for r in hook.requests]
            assert sum("update" in b["title"] for b in bodies) == 1, [b["title"] for b in bodies]
            assert all("Outlets so far" in b["message"] and "⟦" in b["message"] for b in bodies)


@pytest.mark.delivers
def test_seeds_000_and_001_from_two_outlets_are_one_message_with_the_default_policy(tmp_path: Path) -> None:
    from tests.support.clock import Clock
    from worker.config import load_settings
    from worker.oneshot import run_once
    from worker.runtime import Runtime

    clock = Clock(time.time())
    with WebhookReceiver() as hook:
        sites = {n: _outlet(tmp_path / n, [stem], clock.now) for n, stem in (("a", FIRST), ("b", SECOND))}
        feeds = [{"name": f"outlet-{n}", "path": str(root / "feed.rss.xml"), "backfill": "24h"}
                 for n, root in sites.items()]
        config = write_config(tmp_path, feeds=feeds, channels={"hook": [hook.apprise_url()]})
        rt = Runtime(load_settings(config), clock=clock)
        report = run_once(rt)
        assert report.entries_processed == 2 and report.deliveries_failed == 0
        with rt.engine.connect() as conn:
            members = conn.exec_driver_sql("SELECT story_id, source FROM story_members").all()
            kinds = [k for (k,) in conn.exec_driver_sql("SELECT kind FROM messages")]
        assert len({s for s, _ in members}) == 1 and {o for _, o in members} == {"outlet-a", "outlet-b"}
        # the second outlet is a material change, but within the 30-minute minimum interval
        assert kinds == ["first"] and len(hook.requests) == 1
        rt.close()


BURST = (("a", [FIRST]), ("b", [SECOND]), ("c", [FIRST]), ("d", [FIRST]), ("e", [FIRST]))


def _holder(workers: list[NewswatchProcess], site: SiteServer, path: str) -> NewswatchProcess | None:
    """The worker one of whose processes holds open the request for `path` (found by the client
    port the site saw)."""
    ports = set(site.client_ports(path))
    for worker in workers:
        if worker.proc is None:
            continue
        main = psutil.Process(worker.proc.pid)
        for proc in [main, *main.children(recursive=True)]:
            try:
                if any(c.laddr and c.laddr.port in ports for c in proc.net_connections("tcp")):
                    return worker
            except psutil.Error:
                continue
    return None


@pytest.mark.delivers
def test_a_burst_from_five_outlets_survives_a_worker_killed_mid_batch(tmp_path: Path) -> None:
    """Five outlets publish one story at once; the worker fetching one of its pages is killed
    (SIGKILL to its whole process tree) and a fresh worker started. Nothing is lost (five members,
    every entry done, every delivery sent) and nothing doubled: one first message, follow-ups
    within the daily cap of 2, each idempotency key accepted once per channel."""
    now = time.time()
    slow = f"/articles/{FIRST}.html"
    with ExitStack() as stack:
        sites = {name: stack.enter_context(SiteServer(_outlet(tmp_path / name, stems, now)))
                 for name, stems in BURST}
        sites["e"].set_delay(slow, 15)  # still being fetched when its worker dies
        hooks = {name: stack.enter_context(WebhookReceiver()) for name in ("desk", "phone")}
        redis = stack.enter_context(RedisServer(tmp_path / "redis"))
        feeds = [{"name": f"outlet-{n}", "url": f"{s.url}feed.rss.xml", "interval": 10, "allow_private": True}
                 for n, s in sites.items()]
        config = write_config(
            tmp_path, feeds=feeds, channels={n: [h.apprise_url()] for n, h in hooks.items()},
            broker_url=redis.url,
            extra={"messages": {"followup_min_interval_s": 0, "followup_daily_cap": 2},
                   "fetch": {"per_host_spacing_s": 0},
                   "service": {"task_time_limit_s": 20, "tick_seconds": 1},
                   "delivery": {"lease_s": 8, "requeue_after_s": 2}},
        )
        db = tmp_path / "data" / "newswatch.db"
        workers = [stack.enter_context(NewswatchProcess(config, "worker", "--concurrency", "1",
                                                        "--hostname", f"w{i}@%h")) for i in (1, 2)]
        stack.enter_context(NewswatchProcess(config, "beat"))

        assert wait_until(lambda: _holder(workers, sites["e"], slow) is not None, 90), "never fetched"
        victim = _holder(workers, sites["e"], slow)
        assert victim is not None
        victim.stop(signal.SIGKILL)
        sites["e"].set_delay(slow, 0)
        stack.enter_context(NewswatchProcess(config, "worker", "--concurrency", "1", "--hostname", "w3@%h"))

        def settled() -> bool:
            entries = {s for (s,) in _query(db, "SELECT state FROM entries")}
            states = {s for (s,) in _query(db, "SELECT state FROM deliveries")}
            n = len(_query(db, "SELECT id FROM entries"))
            return n == 5 and entries == {"done"} and states == {"sent"}

        assert wait_until(settled, 150), _query(db, "SELECT link, state, error FROM entries")
        time.sleep(3)  # anything sent twice would arrive now
        assert sites["e"].hits[slow] >= 2  # the killed fetch was done again

        members = _query(db, "SELECT story_id, source FROM story_members")
        assert len(members) == 5 and len({s for s, _ in members}) == 1, members
        assert len({o for _, o in members}) == 5, members  # five outlets
        messages = _query(db, "SELECT id, kind FROM messages")
        kinds = collections.Counter(k for _, k in messages)
        assert kinds["first"] == 1 and 1 <= kinds["followup"] <= 2 and len(kinds) == 2, messages
        for name, hook in hooks.items():
            accepted = collections.Counter(r.headers.get(IDEMPOTENCY) for r in hook.requests
                                           if 200 <= r.status < 300)
            assert len(accepted) == len(messages) and set(accepted.values()) == {1}, (name, accepted)
            assert sum("update" not in r.json["title"] for r in hook.requests) == 1, name
