"""End-to-end pipeline benchmark on real components, against a baseline measured in the same run.

Every side starts its clock at the same point: after a warm-up batch (imports, watchlist
compile, first sends done in every process), on the same pages, with every watch routed to the
webhook so sends are part of the work.
- Baseline: a tight loop of the same pipeline functions (`run_once`: poll → fetch page → extract
  → match → story → store → send) in two plain processes (one per core), no broker:
  `pipeline_vs_loop_ratio` is the share of the machine's loop speed the pipeline keeps. The loop
  in one process gives `pipeline_vs_one_process_loop_ratio` (per process; flattering).
- Pipeline: the real Celery worker (prefork, concurrency 2) on redis-server and PostgreSQL.
- Latency at load: event articles (each a story of its own, one message each) published on a
  growing feed at `latency_load_fraction` (≥ 0.7) of the throughput just measured; entry stored
  → message accepted by the loopback webhook (`latency_p50_ms`, `latency_p95_ms`).
- Under backfill: a 500-entry backlog polled at once, and breaking event items published while it
  is processed (`alert_latency_under_backfill_p95_ms`, goal < 2,000 ms).
- Memory: the worker tree's peak USS and PSS (sampled), and its RSS after the batch; a leak check
  on a second worker with child recycling off: RSS growth of the children over a second batch
  (`rss_growth_per_1k_articles_mb`).
- Embedded: the same batch on the SQLite store and embedded broker (`embedded_articles_per_s`).

Prints `key: value` lines and merges them into bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from bench.pipeline_site import Ticker, build_group, write_config  # noqa: E402
from tests.support.receivers import WebhookReceiver  # noqa: E402
from tests.support.services import NewswatchProcess, PostgresServer, RedisServer, wait_until  # noqa: E402
from tests.support.site_server import SiteServer  # noqa: E402

LOAD_FRACTION = 0.75  # of the measured throughput, for the latency phase
PUBLISH_EVERY_S = 0.25  # ticker publishing step: a few items per poll, never a "backlog"
PER_FEED = 50


def _loop_worker(config: str, warm: str, barrier: Any) -> None:
    from alerts.schemes import register_schemes
    from worker.config import load_settings
    from worker.oneshot import run_once
    from worker.polling import sync_feeds
    from worker.runtime import Runtime

    register_schemes()
    rt = Runtime(load_settings(config))
    sync_feeds(rt)
    own = tuple(f.name for f in rt.settings.feeds if f.name != warm)
    with rt.engine.begin() as conn:
        for name in own:
            conn.execute(text("UPDATE feeds SET next_check_at = 1e12 WHERE name = :n"), {"n": name})
    run_once(rt)  # the warm-up feed only
    with rt.engine.begin() as conn:
        for name in own:
            conn.execute(text("UPDATE feeds SET next_check_at = 0 WHERE name = :n"), {"n": name})
    barrier.wait()  # the parent's clock starts when every process is warm
    run_once(rt)
    rt.close()


def baseline(
    tmp: Path, names: list[str], warm: list[str], site: str, hook: str, db: str, processes: int
) -> float:
    """Articles/s of the plain loop in `processes` processes over the feeds `names`."""
    configs = []
    for i in range(processes):
        d = tmp / f"loop{processes}-{i}"
        d.mkdir()
        configs.append(str(write_config(d / "c.yaml", [warm[i], *names[i::processes]], site, hook, db, None)))
    barrier = multiprocessing.Barrier(processes + 1)
    procs = [
        multiprocessing.Process(target=_loop_worker, args=(c, warm[i], barrier))
        for i, c in enumerate(configs)
    ]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.perf_counter()
    for p in procs:
        p.join()
    return _articles(names) / (time.perf_counter() - start)


def _articles(names: list[str]) -> int:
    return len(names) * PER_FEED


class Store:
    """Reads of the bench's store, cheap enough to poll once a second."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def value(self, sql: str, **params: Any) -> float:
        with self.engine.connect() as conn:
            return float(conn.execute(text(sql), params).scalar() or 0.0)

    def rows(self, sql: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql)).all())

    def done(self) -> float:
        return self.value("SELECT count(*) FROM entries WHERE state='done'")

    def unsent(self) -> float:
        return self.value("SELECT count(*) FROM deliveries WHERE state<>'sent'")

    def finished_at(self) -> float:
        return max(
            self.value("SELECT max(processed_at) FROM articles"),
            self.value("SELECT max(sent_at) FROM deliveries"),
        )

    def latencies_ms(self, feed: str) -> list[float]:
        return [
            (sent - seen) * 1000
            for seen, sent in self.rows(
                "SELECT e.seen_at, d.sent_at FROM deliveries d JOIN messages m ON m.id = d.message_id"
                " JOIN entries e ON e.article_id = m.article_id JOIN feeds f ON f.id = e.feed_id"
                f" WHERE f.name = '{feed}' AND d.state = 'sent'"
            )
        ]


class Memory(threading.Thread):
    """Samples the worker tree's USS and PSS every half second; keeps the peaks (MB)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.uss, self.pss, self.stop = pid, 0.0, 0.0, threading.Event()
        self.start()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            uss = pss = 0.0
            try:
                root = psutil.Process(self.pid)
                for p in [root, *root.children(recursive=True)]:
                    info = p.memory_full_info()
                    uss, pss = uss + info.uss, pss + info.pss
            except psutil.Error:
                continue
            self.uss, self.pss = max(self.uss, uss / 2**20), max(self.pss, pss / 2**20)


def children_rss_mb(pid: int) -> float:
    return sum(p.memory_info().rss for p in psutil.Process(pid).children(recursive=True)) / 2**20


class Pipeline:
    """One worker over one store and broker, driven by poll tasks the bench sends."""

    def __init__(self, config: Path, *worker_args: str) -> None:
        from worker.celery_app import make_celery
        from worker.config import load_settings
        from worker.polling import sync_feeds
        from worker.runtime import Runtime

        settings = load_settings(config)
        self.app = make_celery(settings)
        rt = Runtime(settings)
        sync_feeds(rt)
        with rt.engine.begin() as conn:  # only the bench's own poll tasks may poll: nothing is due
            conn.execute(text("UPDATE feeds SET next_check_at = 1e12"))
            self.ids = {name: fid for name, fid in conn.execute(text("SELECT name, id FROM feeds"))}
        rt.close()
        self.store = Store(settings.database_url)
        self.worker = NewswatchProcess(config, "worker", "--concurrency", "2", *worker_args)

    def __enter__(self) -> Pipeline:
        self.worker.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.__exit__(*exc)
        self.store.engine.dispose()

    @property
    def pid(self) -> int:
        assert self.worker.proc is not None
        return self.worker.proc.pid

    def poll(self, *names: str) -> None:
        for name in names:
            self.app.send_task("newswatch.poll_feed", args=[self.ids[name]])

    def drain(self, entries: float, timeout: float = 600) -> None:
        assert wait_until(lambda: self.store.done() >= entries, timeout, interval=1.0), self.worker.log()
        assert wait_until(lambda: self.store.unsent() == 0, 120, interval=1.0), self.worker.log()

    def batch(self, names: list[str], before: float) -> float:
        """Poll `names`, wait until their entries are done and sent; articles/s from the stored times."""
        start = time.time()
        self.poll(*names)
        self.drain(before + _articles(names))
        return _articles(names) / (self.store.finished_at() - start)

    def publish_at(self, ticker: Ticker, rate: float, seconds: float) -> float:
        """Publish event items on `ticker` at `rate` per second for `seconds`; the rate achieved."""
        start, sent = time.monotonic(), 0
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(rate * elapsed) + 1 - sent
            if due > 0:
                ticker.publish(due)
                sent += due
                self.poll(ticker.name)
            time.sleep(PUBLISH_EVERY_S)
        return sent / (time.monotonic() - start)


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def run(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    root = tmp / "site"
    names = build_group(root, "a", args.feeds, PER_FEED)
    second = build_group(root, "b", args.feeds, PER_FEED)
    warm = build_group(root, "w", 2, 10)
    (bulk,) = build_group(root, "k", 1, args.backfill)
    ticker, breaking = Ticker(root, "ticker", 0), Ticker(root, "breaking", 1_000_000)
    feeds = [*warm, *names, *second, bulk, ticker.name, breaking.name]
    r: dict[str, Any] = {}
    with (
        SiteServer(root) as site,
        WebhookReceiver() as hook,
        PostgresServer() as pg,
        RedisServer(tmp / "redis") as redis,
    ):
        admin = create_engine(pg.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for db in ("loop", "loop1", "celery", "leak"):
                conn.execute(text(f"CREATE DATABASE {db}"))
        admin.dispose()
        base = pg.url.rsplit("/", 1)[0]
        loop2 = baseline(tmp, names, warm, site.url, hook.apprise_url(), f"{base}/loop", 2)
        loop1 = baseline(tmp, names, warm, site.url, hook.apprise_url(), f"{base}/loop1", 1)
        print(f"# loop: {loop2:.1f} articles/s (2 processes), {loop1:.1f} (1 process)", file=sys.stderr)

        def config(name: str, db: str | None, broker: str | None) -> Path:
            (tmp / name).mkdir()
            return write_config(tmp / name / "c.yaml", feeds, site.url, hook.apprise_url(), db, broker)

        with Pipeline(config("celery", f"{base}/celery", redis.url)) as p:
            assert wait_until(lambda: bool(p.app.control.ping(timeout=1)), 60), p.worker.log()
            p.poll(*warm)
            p.drain(20)
            memory = Memory(p.pid)
            rate = p.batch(names, 20)
            r["worker_rss_mb"] = round(
                children_rss_mb(p.pid) + psutil.Process(p.pid).memory_info().rss / 2**20, 1
            )
            before = p.store.done()
            achieved = p.publish_at(ticker, rate * LOAD_FRACTION, args.latency_s)
            p.drain(before + len(ticker.slugs), 300)
            memory.stop.set()
            latencies = p.store.latencies_ms(ticker.name)
            # the backfill: one poll brings the whole backlog; breaking items follow while it runs
            before = p.store.done()
            p.poll(bulk)
            assert wait_until(lambda: p.store.done() >= before + 20, 120, interval=0.2)
            p.publish_at(breaking, 1 / 0.3, 6.0)
            remaining = before + args.backfill + len(breaking.slugs) - p.store.done()
            p.drain(before + args.backfill + len(breaking.slugs), 300)
            under = p.store.latencies_ms(breaking.name)
        r |= {
            "pipeline_articles_per_s": round(rate, 1),
            "loop_articles_per_s": round(loop2, 1),
            "pipeline_vs_loop_ratio": round(rate / loop2, 3),
            "loop_one_process_articles_per_s": round(loop1, 1),
            "pipeline_vs_one_process_loop_ratio": round(rate / loop1, 3),
            "latency_load_articles_per_s": round(achieved, 1),
            "latency_load_fraction": round(achieved / rate, 2),
            "latency_articles": len(latencies),
            "latency_p50_ms": round(statistics.median(latencies), 1),
            "latency_p95_ms": round(_p95(latencies), 1),
            "worker_uss_mb": round(memory.uss, 1),
            "worker_pss_mb": round(memory.pss, 1),
            "alert_latency_under_backfill_p95_ms": round(_p95(under), 1),
            "alert_latency_under_backfill_p50_ms": round(statistics.median(under), 1),
            "alert_latency_under_backfill_breaking": len(under),
            "alert_latency_under_backfill_entries_left_at_end": int(remaining),
        }
        # leak check: child recycling off, RSS of the children after one batch, then another
        with Pipeline(config("leak", f"{base}/leak", redis.url), "--max-tasks-per-child", "1000000") as p:
            assert wait_until(lambda: bool(p.app.control.ping(timeout=1)), 60), p.worker.log()
            p.poll(*warm)
            p.drain(20)
            p.batch(names, 20)
            after_first = children_rss_mb(p.pid)
            p.batch(second, 20 + _articles(names))
            growth = children_rss_mb(p.pid) - after_first
        r["rss_growth_per_1k_articles_mb"] = round(growth / (_articles(second) / 1000), 1)
        with Pipeline(config("embedded", None, None)) as p:  # no broadcast here: readiness = warm-up done
            p.poll(*warm)
            p.drain(20, 120)
            r["embedded_articles_per_s"] = round(p.batch(names, 20), 1)
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=20, help="feeds of 50 articles per batch")
    parser.add_argument("--latency-s", type=float, default=15.0, help="length of the latency phase")
    parser.add_argument("--backfill", type=int, default=500, help="entries in the backfill")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        results = run(Path(tmpdir), args)
    for key, value in results.items():
        print(f"{key}: {value}")
    out = ROOT / "bench" / "results.json"
    merged = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**merged, **results}, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
