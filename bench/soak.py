"""Opt-in soak (issue 3; reliability.md test 33): the real distributed service for N minutes.

Set-up, all on loopback: 300 feeds spread over 10 origin hosts (127.0.0.10 … 127.0.0.19, one
SiteServer each), pages generated from seeds/site/articles/ and made unique; a feed-changer thread
adds new entries to random feeds every few seconds and flips a few feeds to malformed XML and back;
about 20 % of origin requests get an injected fault (500, 429 + Retry-After, or a 1–4 s slow
answer). Two `newswatch worker --concurrency 2` processes (distinct --hostname) and one
`newswatch beat`, on a redis-server broker and a PostgreSQL store; alerts of the watches in
HOOK_WATCHES go to a loopback WebhookReceiver. At the end the feed changes and faults stop, the
pipeline drains (bounded wait), beat and workers stop, then everything is counted.

What is measured (written to bench/soak.json, also printed as `key: value`):
- soak_max_host_concurrency: server side, the largest number of requests in flight at the same
  time on any one origin host (request headers parsed → response written), over the whole run.
- soak_rss_growth_mb: sum of RSS of both workers (main process + pool children, psutil), last
  sample (end of drain) minus the first sample taken after the warm-up.
- soak_alerts_expected: (watch, article) alerts that the store routed to the webhook
  (distinct alert ids of `deliveries` rows on the webhook channel).
- soak_alerts_delivered: distinct X-Newswatch-Idempotency keys received by the webhook.
- soak_duplicates: webhook requests whose idempotency key had already been received (must be 0).
- extras: run shape (minutes, feeds, hosts, articles, origin requests, faults injected and their
  share of the requests made while faults were on), the configured fetch.per_host_concurrency and
  fetch.per_host_spacing_s with the smallest start-to-start gap seen on one host (server side) and
  the number of gaps shorter than the spacing minus 20 ms, first/last/max worker RSS, Redis
  used_memory first/last, deliveries not sent, missing/unexpected keys (expected keys are
  `newswatch-<alert id>-<destination>`), workers that exited early, tracebacks in worker logs.

Processes start one at a time on a store whose tables this script creates first: started together
on an empty PostgreSQL they race in CREATE TABLE and in sync_feeds, and the loser exits.
Worker and beat logs are copied to --logs (default: a new /tmp/newswatch-soak-logs-* directory).

Run: `.venv/bin/python bench/soak.py [--minutes 10]` (a `--minutes 1` run works too).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import redis  # noqa: E402
import yaml  # noqa: E402
from soak_site import FaultMix, SoakSite  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from tests.integration.helpers import shipped_watchlist  # noqa: E402
from tests.support.receivers import WebhookReceiver  # noqa: E402
from tests.support.services import NewswatchProcess, PostgresServer, RedisServer, wait_until  # noqa: E402
from worker.celery_app import make_celery  # noqa: E402
from worker.config import load_settings  # noqa: E402
from worker.schema import make_engine  # noqa: E402

SEED_PAGES = sorted((ROOT / "seeds" / "site" / "articles").glob("*.html"))
HOOK_WATCHES = ("drones", "missiles")  # watches whose alerts go to the webhook
IDEMPOTENCY_HEADER = "x-newswatch-idempotency"
FEED_KEEP = 20  # newest items kept in a feed file
INITIAL_ITEMS = 2  # items per feed at start
CHANGE_EVERY_S = 5.0  # feed-changer period
SAMPLE_EVERY_S = 5.0  # RSS / Redis memory sampling period
MALFORMED_SHARE = 0.02  # feeds that are malformed for every other phase


@dataclass
class Options:
    minutes: float
    feeds: int
    hosts: int
    interval: int
    new_per_minute: float
    per_host_concurrency: int
    spacing_s: float
    seed: int
    mix: FaultMix
    logs: Path

    @property
    def duration_s(self) -> float:
        return self.minutes * 60.0

    @property
    def warmup_s(self) -> float:
        return min(120.0, max(15.0, self.duration_s * 0.25))

    @property
    def drain_s(self) -> float:
        return min(240.0, max(60.0, self.duration_s * 0.3))


@dataclass
class Site:
    """The generated origin content: feed files and article pages under one root."""

    root: Path
    opts: Options
    items: dict[int, list[int]] = field(default_factory=dict)  # feed index → article numbers
    next_article: int = 0
    pages: list[str] = field(default_factory=list)

    def build(self) -> None:
        (self.root / "articles").mkdir(parents=True)
        self.pages = [p.read_text(encoding="utf-8") for p in SEED_PAGES]
        for f in range(self.opts.feeds):
            self.items[f] = []
            for _ in range(INITIAL_ITEMS):
                self.add(f, write_feed=False)
            self.write_feed(f)

    def add(self, f: int, *, write_feed: bool = True) -> None:
        """A new article page, then a new item at the top of feed `f`."""
        n = self.next_article
        self.next_article += 1
        html = self.pages[n % len(self.pages)].replace("</title>", f" — {n}</title>", 1)
        html = re.sub(r"(<p[ >])", f"<p>تحديث رقم {n} من غرفة الأخبار.</p>\\1", html, count=1)
        _atomic_write(self.root / "articles" / f"a{n}.html", html)
        self.items[f] = [n, *self.items[f]][:FEED_KEEP]
        if write_feed:
            self.write_feed(f)

    def write_feed(self, f: int) -> None:
        items = "".join(
            f"<item><title>خبر {n}</title><link>articles/a{n}.html</link>"
            f'<guid isPermaLink="false">soak-{n}</guid><description>ملخص {n}</description></item>'
            for n in self.items[f]
        )
        _atomic_write(
            self.root / f"feed{f}.xml",
            f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>feed{f}</title>{items}</channel></rss>",
        )


def _atomic_write(path: Path, content: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)


class FeedChanger(threading.Thread):
    """Adds new items to random feeds every CHANGE_EVERY_S and flips the malformed feeds each phase,
    until `stop` is set or its deadline passes."""

    def __init__(self, site: Site, servers: list[SoakSite], deadline: float) -> None:
        super().__init__(name="feed-changer", daemon=True)
        self.site, self.servers, self.deadline = site, servers, deadline
        self.stop = threading.Event()
        self.added = 0
        opts = site.opts
        self.rng = random.Random(opts.seed + 1)
        self.malformed = self.rng.sample(range(opts.feeds), max(1, round(opts.feeds * MALFORMED_SHARE)))
        self.phase_s = max(20.0, opts.duration_s / 6)

    def run(self) -> None:
        per_tick = self.site.opts.new_per_minute * CHANGE_EVERY_S / 60.0
        carry, started = 0.0, time.monotonic()
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            broken = int((time.monotonic() - started) / self.phase_s) % 2 == 0
            self._set_malformed(broken)
            carry += per_tick
            for f in self.rng.sample(range(self.site.opts.feeds), min(int(carry), self.site.opts.feeds)):
                self.site.add(f)
                self.added += 1
            carry -= int(carry)
            self.stop.wait(CHANGE_EVERY_S)

    def _set_malformed(self, broken: bool) -> None:
        hosts = len(self.servers)
        for f in self.malformed:
            server = self.servers[f % hosts]
            with server._gauge:
                if broken:
                    server.malformed.add(f"/feed{f}.xml")
                else:
                    server.malformed.discard(f"/feed{f}.xml")


def write_config(
    workdir: Path, opts: Options, servers: list[SoakSite], hook: str, db: str, broker: str
) -> Path:
    from worker.config import FetchSpec

    watchlist = shipped_watchlist()
    for watch in watchlist["watches"]:
        watch["channels"] = ["hook"] if watch["id"] in HOOK_WATCHES else []
    fetch: dict[str, Any] = {}
    if "per_host_concurrency" in FetchSpec.model_fields:
        fetch["per_host_concurrency"] = opts.per_host_concurrency
    if "per_host_spacing_s" in FetchSpec.model_fields:
        fetch["per_host_spacing_s"] = opts.spacing_s
    feeds = [
        {
            "name": f"feed{f}",
            "url": f"{servers[f % len(servers)].url}feed{f}.xml",
            "interval": opts.interval,
            "allow_private": True,
            "backfill": "all",  # the items are undated: every one must be processed
        }
        for f in range(opts.feeds)
    ]
    tree: dict[str, Any] = {
        "service": {
            "data_dir": str(workdir / "data"),
            "database_url": db,
            "broker_url": broker,
            "tick_seconds": 2.0,
            "log_level": "WARNING",
        },
        "fetch": fetch,
        "delivery": {"backoff_s": [2, 5, 10, 30], "requeue_after_s": 10, "lease_s": 60},
        "feeds": feeds,
        "channels": {"hook": [hook]},
        "default_channels": [],
        **watchlist,
    }
    path = workdir / "newswatch.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def worker_rss_mb(workers: list[NewswatchProcess]) -> float:
    """Sum of RSS of every worker main process and its children, in MiB."""
    total = 0
    for w in workers:
        if w.proc is None:
            continue
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(w.proc.pid)
            for p in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
    return total / 2**20


def keep_logs(tmp: Path, dest: Path) -> None:
    """Copy the worker and beat logs out of the temporary directory before it is removed."""
    dest.mkdir(parents=True, exist_ok=True)
    for log in tmp.glob("*.log"):
        shutil.copy2(log, dest / log.name)
    print(f"# logs: {dest}", flush=True)


def responds(app: Any, prefix: str) -> bool:
    """True when a worker whose node name starts with `prefix` answers a broadcast ping."""
    with contextlib.suppress(Exception):
        replies = app.control.ping(timeout=1.0) or []
        return any(name.startswith(prefix) for reply in replies for name in reply)
    return False


def redis_used_mb(url: str) -> float:
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return float(client.info("memory")["used_memory"]) / 2**20
    finally:
        client.close()


def scalar(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def outstanding(engine: Engine) -> int:
    """Work the pipeline still has: unprocessed entries and unsent, not-failed deliveries."""
    return scalar(engine, "SELECT count(*) FROM entries WHERE state <> 'done'") + scalar(
        engine, "SELECT count(*) FROM deliveries WHERE state NOT IN ('sent', 'failed')"
    )


def wait_quiet(engine: Engine, hook: WebhookReceiver, timeout: float, *, min_wait: float = 0.0) -> bool:
    """Wait (bounded) until nothing is outstanding and the receiver has been still for 3 checks."""
    deadline, start = time.monotonic() + timeout, time.monotonic()
    still, last = 0, -1
    while time.monotonic() < deadline:
        received = len(hook.requests)
        busy = outstanding(engine)
        still = still + 1 if busy == 0 and received == last else 0
        last = received
        if still >= 3 and time.monotonic() - start >= min_wait:
            return True
        time.sleep(2.0)
    return False


@dataclass
class Samples:
    rss: list[float] = field(default_factory=list)
    redis: list[float] = field(default_factory=list)
    exited: set[int] = field(default_factory=set)  # workers (by index) that exited before the end


def note_exits(workers: list[NewswatchProcess], samples: Samples) -> None:
    for i, w in enumerate(workers):
        if (w.proc is None or w.proc.poll() is not None) and i not in samples.exited:
            samples.exited.add(i)
            print(f"# worker {i + 1} exited early:\n{w.log()[-3000:]}", file=sys.stderr, flush=True)


def soak_phase(opts: Options, workers: list[NewswatchProcess], broker: str, end: float) -> Samples:
    """Let the run go until `end`, sampling RSS (after warm-up) and Redis memory."""
    samples = Samples()
    warm_until = time.monotonic() + opts.warmup_s
    while time.monotonic() < end:
        note_exits(workers, samples)
        if time.monotonic() >= warm_until:
            samples.rss.append(worker_rss_mb(workers))
        with contextlib.suppress(redis.RedisError):
            samples.redis.append(redis_used_mb(broker))
        time.sleep(max(0.0, min(SAMPLE_EVERY_S, end - time.monotonic())))
    return samples


def count_delivered(hook: WebhookReceiver) -> tuple[set[str], int, int]:
    """(distinct idempotency keys, duplicate requests, requests without a key)."""
    seen: set[str] = set()
    duplicates = without = 0
    for request in hook.requests:
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            without += 1
        elif key in seen:
            duplicates += 1
        else:
            seen.add(key)
    return seen, duplicates, without


def run(opts: Options) -> dict[str, Any]:
    mix = opts.mix
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="newswatch-soak-")))
        stack.callback(keep_logs, tmp, opts.logs)  # runs after the processes stopped
        site = Site(tmp / "site", opts)
        site.build()
        servers = [
            stack.enter_context(SoakSite(site.root, f"127.0.0.{10 + h}", mix, opts.seed * 100 + h))
            for h in range(opts.hosts)
        ]
        hook = stack.enter_context(WebhookReceiver())
        pg = stack.enter_context(PostgresServer())
        broker = stack.enter_context(RedisServer(tmp / "redis"))
        config = write_config(tmp, opts, servers, hook.apprise_url(), pg.url, broker.url)
        # create the tables once here: processes starting together on an empty PostgreSQL race
        # in CREATE TABLE (pg_type unique violation), see the report
        engine = make_engine(pg.url)
        stack.callback(engine.dispose)
        workers = [
            NewswatchProcess(config, "worker", "--concurrency", "2", "--hostname", f"soak{i}@%h")
            for i in (1, 2)
        ]
        beat = NewswatchProcess(config, "beat")
        app = make_celery(load_settings(config))
        stack.callback(app.close)
        # one at a time: on an empty store, processes starting together race in sync_feeds
        # (feeds_name_key unique violation kills the loser), see the report
        for w in workers:
            stack.enter_context(w)  # stopped (SIGTERM, then SIGKILL) when the stack unwinds
            name = w.args[-1].split("@")[0] + "@"
            ready = wait_until(lambda: responds(app, name), 90, interval=1.0)  # noqa: B023
            assert ready, f"worker not ready:\n{w.log()[-3000:]}"
        stack.enter_context(beat)
        start = time.monotonic()
        changer = FeedChanger(site, servers, start + opts.duration_s)
        changer.start()
        try:
            samples = soak_phase(opts, workers, broker.url, start + opts.duration_s)
        finally:
            changer.stop.set()
            changer.join(timeout=30)
        # drain: no more feed changes or faults; every feed gets at least one more interval
        for server in servers:
            with server._gauge:
                server.faults_enabled = False
        drained = wait_quiet(engine, hook, opts.drain_s, min_wait=opts.interval + 5)
        note_exits(workers, samples)
        samples.rss.append(worker_rss_mb(workers))
        with contextlib.suppress(redis.RedisError):
            samples.redis.append(redis_used_mb(broker.url))
        beat.stop(timeout=20)
        drained = wait_quiet(engine, hook, 30) and drained
        for w in workers:
            w.stop(timeout=30)
        elapsed = time.monotonic() - start
        return measure(opts, servers, hook, engine, changer, site, samples, drained, elapsed, workers)
    raise AssertionError("unreachable")


def measure(
    opts: Options,
    servers: list[SoakSite],
    hook: WebhookReceiver,
    engine: Engine,
    changer: FeedChanger,
    site: Site,
    samples: Samples,
    drained: bool,
    elapsed: float,
    workers: list[NewswatchProcess],
) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT d.alert_id, d.destination, d.state, m.story_id, m.revision FROM deliveries d"
                 " LEFT JOIN messages m ON m.id = d.message_id WHERE d.channel = 'hook'")
        ).all()
    expected_keys = {  # a story message's key (worker.messages.message_key), or an alert's
        f"newswatch-s{r.story_id}-r{r.revision}-{r.destination}" if r.story_id is not None
        else f"newswatch-{r.alert_id}-{r.destination}"
        for r in rows
    }
    delivered, duplicates, without = count_delivered(hook)
    injected: Counter[str] = Counter()
    for server in servers:
        injected.update(server.injected)
    requests = sum(s.requests for s in servers)
    drawn = sum(s.drawn for s in servers)  # requests while faults were on
    gaps = [g for g in (s.min_gap_s() for s in servers) if g is not None]
    tolerance = 0.02  # server-side arrival jitter on loopback
    log_text = "".join(w.log() for w in workers)
    rss = samples.rss or [0.0]
    return {
        "soak_alerts_expected": len({r.alert_id for r in rows}),
        "soak_alerts_delivered": len(delivered),
        "soak_duplicates": duplicates,
        "soak_max_host_concurrency": max(s.max_in_flight for s in servers),
        "soak_rss_growth_mb": round(rss[-1] - rss[0], 1),
        "soak_minutes": opts.minutes,
        "soak_elapsed_s": round(elapsed, 1),
        "soak_drained": drained,
        "soak_feeds": opts.feeds,
        "soak_hosts": opts.hosts,
        "soak_feed_interval_s": opts.interval,
        "soak_articles": site.next_article,
        "soak_articles_added": changer.added,
        "soak_entries_stored": scalar(engine, "SELECT count(*) FROM entries"),
        "soak_articles_processed": scalar(engine, "SELECT count(*) FROM articles"),
        "soak_requests": requests,
        "soak_errors_injected": sum(injected.values()),
        "soak_errors_injected_share": round(sum(injected.values()) / max(1, drawn), 3),
        "soak_injected_500": injected["500"],
        "soak_injected_429": injected["429"],
        "soak_injected_slow": injected["slow"],
        "soak_injected_malformed": injected["malformed"],
        "soak_per_host_limit": opts.per_host_concurrency,
        "soak_per_host_spacing_s": opts.spacing_s,
        "soak_min_host_gap_ms": round(min(gaps) * 1000, 1) if gaps else None,
        "soak_gaps_below_spacing": sum(s.gaps_below(opts.spacing_s - tolerance) for s in servers),
        "soak_max_concurrency_by_host": [s.max_in_flight for s in servers],
        "soak_rss_first_mb": round(rss[0], 1),
        "soak_rss_last_mb": round(rss[-1], 1),
        "soak_rss_max_mb": round(max(rss), 1),
        "soak_redis_first_mb": round(samples.redis[0], 2) if samples.redis else None,
        "soak_redis_last_mb": round(samples.redis[-1], 2) if samples.redis else None,
        "soak_deliveries_not_sent": sum(1 for r in rows if r.state != "sent"),
        "soak_alerts_missing": len(expected_keys - delivered),
        "soak_alerts_unexpected": len(delivered - expected_keys),
        "soak_requests_without_key": without,
        "soak_feeds_in_error": scalar(engine, "SELECT count(*) FROM feeds WHERE error_streak > 0"),
        "soak_worker_log_tracebacks": log_text.count("Traceback"),
        "soak_workers_exited_early": len(samples.exited),
    }


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--minutes", type=float, default=10.0, help="length of the changing phase (default 10)")
    p.add_argument("--feeds", type=int, default=300)
    p.add_argument("--hosts", type=int, default=10, help="origin hosts 127.0.0.10 … (at most 10)")
    p.add_argument("--interval", type=int, default=30, help="feed poll interval in seconds (≥ 10)")
    p.add_argument("--new-per-minute", type=float, default=120.0, help="new feed items per minute")
    p.add_argument("--per-host-concurrency", type=int, default=2, help="fetch.per_host_concurrency")
    p.add_argument("--spacing", type=float, default=0.2, help="fetch.per_host_spacing_s")
    p.add_argument("--error-rate", type=float, default=0.2, help="share of origin requests with a fault")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument(
        "--logs", type=Path, default=None, help="keep worker/beat logs here (default: a new /tmp dir)"
    )
    a = p.parse_args(argv)
    if not (0 < a.minutes <= 120 and 1 <= a.hosts <= 10 and a.feeds >= a.hosts and a.interval >= 10):
        p.error("need 0 < minutes ≤ 120, 1 ≤ hosts ≤ 10, feeds ≥ hosts, interval ≥ 10")
    base = FaultMix()
    scale = a.error_rate / base.total
    mix = FaultMix(
        status_500=base.status_500 * scale, status_429=base.status_429 * scale, slow=base.slow * scale
    )
    return Options(
        a.minutes,
        a.feeds,
        a.hosts,
        a.interval,
        a.new_per_minute,
        a.per_host_concurrency,
        a.spacing,
        a.seed,
        mix,
        a.logs or Path(tempfile.mkdtemp(prefix="newswatch-soak-logs-")),
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so that every server and process started here is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    print(
        f"# soak: {opts.minutes:g} min, {opts.feeds} feeds on {opts.hosts} hosts, "
        f"+{opts.new_per_minute:g} items/min, {opts.mix.total:.0%} faults",
        flush=True,
    )
    results = run(opts)
    for key, value in results.items():
        print(f"{key}: {value}")
    out = ROOT / "bench" / "soak.json"
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"# written: {out}")
    broken = [
        f"{results['soak_duplicates']} duplicate(s)" if results["soak_duplicates"] else "",
        "alerts missing" if results["soak_alerts_delivered"] < results["soak_alerts_expected"] else "",
        "per-host limit exceeded"
        if results["soak_max_host_concurrency"] > results["soak_per_host_limit"]
        else "",
    ]
    failures = [b for b in broken if b]
    if failures:
        print(f"# soak FAILED: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
