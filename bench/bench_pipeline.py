"""End-to-end pipeline benchmark on real components, against a baseline measured in the same run.

- Baseline: a tight loop of the same pipeline functions (`run_once`: poll → fetch page → extract
  → match → store → send) in two plain processes (one per core, the cores the worker's two pool
  processes use), no broker: `pipeline_vs_loop_ratio` is the share of the machine's loop speed
  that the pipeline keeps. The same loop in one process gives `pipeline_vs_one_process_loop_ratio`
  (a per-process comparison, flattering to the pipeline).
- Pipeline: the real Celery worker (prefork, concurrency 2) on a real redis-server, over the same
  pages; PostgreSQL store for both.
- Latency: entry stored by the poll → message accepted by the loopback webhook, at moderate load
  (each latency article is an event of its own, so it starts a story and sends its message).
- Memory: the worker's RSS (main process + pool children) after the 1,000 articles.

Prints `key: value` lines and merges them into bench/results.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import yaml  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from tests.integration.helpers import shipped_watchlist  # noqa: E402
from tests.support.receivers import WebhookReceiver  # noqa: E402
from tests.support.services import NewswatchProcess, PostgresServer, RedisServer, wait_until  # noqa: E402
from tests.support.site_server import SiteServer  # noqa: E402

FEEDS, PER_FEED = 20, 50  # 1,000 articles
LATENCY_FEEDS = 60
SEED_PAGES = sorted((ROOT / "seeds" / "site" / "articles").glob("*.html"))


def build_site(root: Path) -> None:
    """FEEDS feeds of PER_FEED distinct pages each (seed pages made unique), plus latency feeds."""
    (root / "articles").mkdir(parents=True)
    pages = [p.read_text(encoding="utf-8") for p in SEED_PAGES]
    for n in range(FEEDS * PER_FEED + LATENCY_FEEDS):
        html = pages[n % len(pages)].replace("</title>", f" — {n}</title>", 1)
        html = re.sub(r"(<p[ >])", f"<p>تحديث رقم {n} من غرفة الأخبار.</p>\\1", html, count=1)
        (root / "articles" / f"a{n}.html").write_text(html, encoding="utf-8")
    for f in range(FEEDS):
        _write_feed(root / f"feed{f}.xml", range(f * PER_FEED, (f + 1) * PER_FEED))
    for f in range(LATENCY_FEEDS):
        n = FEEDS * PER_FEED + f
        (root / "articles" / f"a{n}.html").write_text(_event_page(n), encoding="utf-8")
        _write_feed(root / f"late{f}.xml", range(n, n + 1))


_LETTERS = "بتثجحخدذرزسشصضطظعغفقكلمنهوي"


def _name(n: int, k: int) -> str:
    """A made-up word unique to (n, k): the rare names of one event."""
    x, out = n * 7 + k + 1000, ""
    while x:
        x, r = divmod(x, len(_LETTERS))
        out += _LETTERS[r]
    return out + "ان"


def _event_page(n: int) -> str:
    """A page about an event of its own (a drone strike on a made-up town), so that each latency
    article starts a story and sends one message: the latency is entry stored → message accepted."""
    town, chief, unit = _name(n, 1), _name(n, 2), _name(n, 3)
    paras = [
        f"أعلن مسؤولون أن طائرات مسيرة إيرانية الصنع أطلقتها روسيا أصابت مستودعا في بلدة {town} فجر اليوم.",
        f"وقال رئيس البلدية {chief} إن الهجوم الذي نفذته وحدة {unit} ألحق أضرارا بمحطة الكهرباء في {town}.",
        f"وأضاف {chief} أن فرق الإنقاذ عملت لساعات في {town} وأن الطائرات المسيرة من طراز شاهد.",
        f"ولم تعلق موسكو ولا طهران على الهجوم على {town}، فيما طالب {chief} بمزيد من أنظمة الدفاع الجوي.",
    ]
    body = "".join(f"<p>{p}</p>" for p in paras)
    title = f"طائرات مسيرة إيرانية تضرب بلدة {town}"
    return (f'<!doctype html><html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{title}</title>'
            f"</head><body><article><h1>{title}</h1>{body}</article></body></html>")


def _write_feed(path: Path, numbers: range) -> None:
    items = "".join(
        f"<item><title>خبر {n}</title><link>articles/a{n}.html</link>"
        f'<guid isPermaLink="false">bench-{n}</guid><description>ملخص {n}</description></item>'
        for n in numbers
    )
    path.write_text(
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{path.stem}</title>{items}</channel></rss>",
        encoding="utf-8",
    )


def write_config(path: Path, feeds: list[str], site: str, hook: str, db: str, broker: str | None) -> Path:
    watchlist = shipped_watchlist()
    drone_watch = next(w for w in watchlist["watches"] if "drone" in w["id"])
    for watch in watchlist["watches"]:
        watch["channels"] = ["hook"] if watch is drone_watch else []
    service: dict[str, Any] = {
        "data_dir": str(path.parent / "data"),
        "database_url": db,
        "log_level": "WARNING",
    }
    if broker:
        service["broker_url"] = broker
    tree = {
        "service": service,
        # One loopback host stands for the many hosts of real feeds: per-host politeness off.
        "fetch": {"per_host_concurrency": 64, "per_host_spacing_s": 0},
        "feeds": [
            {"name": f, "url": f"{site}{f}.xml", "interval": 86400, "allow_private": True, "backfill": "all"}
            for f in feeds
        ],
        "channels": {"hook": [hook]},
        **watchlist,
    }
    path.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    return path


def _loop_worker(config: str) -> None:
    from alerts.schemes import register_schemes
    from worker.config import load_settings
    from worker.oneshot import run_once
    from worker.runtime import Runtime

    register_schemes()
    rt = Runtime(load_settings(config))
    run_once(rt)
    rt.close()


def baseline(tmp: Path, site: str, hook: str, db: str, processes: int) -> float:
    """Articles/s of the plain loop in `processes` processes (2: one per core, as the worker)."""
    names = [f"feed{f}" for f in range(FEEDS)]
    configs = []
    for i in range(processes):
        d = tmp / f"loop{processes}-{i}"
        d.mkdir()
        configs.append(str(write_config(d / "c.yaml", names[i::processes], site, hook, db, None)))
    start = time.perf_counter()
    procs = [multiprocessing.Process(target=_loop_worker, args=(c,)) for c in configs]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return FEEDS * PER_FEED / (time.perf_counter() - start)


def _count(engine: Any, sql: str) -> float:
    with engine.connect() as conn:
        return float(conn.execute(text(sql)).scalar_one())


def pipeline(tmp: Path, site: str, hook: WebhookReceiver, db: str, redis: str) -> dict[str, float]:
    names = [f"feed{f}" for f in range(FEEDS)] + [f"late{f}" for f in range(LATENCY_FEEDS)]
    d = tmp / "celery"
    d.mkdir()
    config = write_config(d / "c.yaml", names, site, hook.apprise_url(), db, redis)
    from worker.celery_app import make_celery
    from worker.config import load_settings
    from worker.polling import sync_feeds
    from worker.runtime import Runtime

    settings = load_settings(config)
    app = make_celery(settings)
    rt = Runtime(settings)
    sync_feeds(rt)
    with rt.engine.begin() as conn:  # only the bench's own poll tasks may poll: nothing is due
        conn.execute(text("UPDATE feeds SET next_check_at = 1e12"))
    rt.close()
    with NewswatchProcess(config, "worker", "--concurrency", "2") as worker:
        assert wait_until(lambda: bool(app.control.ping(timeout=1)), 60), worker.log()
        time.sleep(1)
        assert worker.proc is not None
        feed_ids = dict(_rows(db, "SELECT name, id FROM feeds"))
        main_cpu_before = sum(psutil.Process(worker.proc.pid).cpu_times()[:2])
        # The end of the run is read from the stored completion times afterwards, so the bench's own
        # progress checks can be rare and cheap (one connection, once a second): frequent polling
        # would take CPU from the worker on the same two cores.
        watcher = create_engine(db)
        start = time.time()
        for f in range(FEEDS):
            app.send_task("newswatch.poll_feed", args=[feed_ids[f"feed{f}"]])
        total = FEEDS * PER_FEED
        done_sql = "SELECT count(*) FROM entries WHERE state='done'"
        assert wait_until(lambda: _count(watcher, done_sql) >= total, 600, interval=1.0)
        unsent_sql = "SELECT count(*) FROM deliveries WHERE state<>'sent'"
        assert wait_until(lambda: _count(watcher, unsent_sql) == 0, 120, interval=1.0)
        finished = _count(
            watcher,
            "SELECT GREATEST((SELECT max(processed_at) FROM articles),"
            " (SELECT max(sent_at) FROM deliveries))",
        )
        elapsed = finished - start
        rate = total / elapsed
        rss = _rss_mb(worker.proc.pid)
        main_cpu = sum(psutil.Process(worker.proc.pid).cpu_times()[:2]) - main_cpu_before
        print(
            f"# pipeline: {rate:.1f} articles/s, worker RSS {rss:.0f} MB, main process CPU "
            f"{main_cpu:.1f} s of {elapsed:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        for f in range(LATENCY_FEEDS):  # moderate load: 4 new articles/s
            app.send_task("newswatch.poll_feed", args=[feed_ids[f"late{f}"]])
            time.sleep(0.25)
        assert wait_until(lambda: _count(watcher, done_sql) >= total + LATENCY_FEEDS, 60)
        assert wait_until(lambda: _count(watcher, unsent_sql) == 0, 60)
        watcher.dispose()
    latencies = [
        (sent - seen) * 1000
        for seen, sent in _rows(
            db,
            "SELECT e.seen_at, d.sent_at FROM deliveries d JOIN messages m ON m.id = d.message_id "
            "JOIN entries e ON e.article_id = m.article_id JOIN feeds f ON f.id = e.feed_id "
            "WHERE f.name LIKE 'late%' AND d.state = 'sent'",
        )
    ]
    q = statistics.quantiles(latencies, n=20)
    return {"rate": rate, "rss": rss, "p50": statistics.median(latencies), "p95": q[18]}


def _rows(db: str, sql: str) -> list[Any]:
    engine = create_engine(db)
    with engine.connect() as conn:
        rows = list(conn.execute(text(sql)).all())
    engine.dispose()
    return rows


def _rss_mb(pid: int) -> float:
    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs) / 2**20


def main() -> None:
    global FEEDS, PER_FEED, LATENCY_FEEDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=FEEDS)
    parser.add_argument("--per-feed", type=int, default=PER_FEED)
    parser.add_argument("--latency-articles", type=int, default=LATENCY_FEEDS)
    args = parser.parse_args()
    FEEDS, PER_FEED, LATENCY_FEEDS = args.feeds, args.per_feed, args.latency_articles
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        build_site(tmp / "site")
        with (
            SiteServer(tmp / "site") as site,
            WebhookReceiver() as hook,
            PostgresServer() as pg,
            RedisServer(tmp / "redis") as redis,
        ):
            admin = create_engine(pg.url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text("CREATE DATABASE loop"))
                conn.execute(text("CREATE DATABASE loop1"))
                conn.execute(text("CREATE DATABASE celery"))
            admin.dispose()
            loop_db, celery_db = pg.url.rsplit("/", 1)[0] + "/loop", pg.url.rsplit("/", 1)[0] + "/celery"
            loop_rate = baseline(tmp, site.url, hook.apprise_url(), loop_db, processes=2)
            print(f"# baseline loop: {loop_rate:.1f} articles/s", file=sys.stderr, flush=True)
            one_rate = baseline(tmp, site.url, hook.apprise_url(), f"{loop_db}1", processes=1)
            print(f"# baseline loop, one process: {one_rate:.1f} articles/s", file=sys.stderr, flush=True)
            got = pipeline(tmp, site.url, hook, celery_db, redis.url)
    results = {
        "pipeline_articles_per_s": round(got["rate"], 1),
        "loop_articles_per_s": round(loop_rate, 1),
        "pipeline_vs_loop_ratio": round(got["rate"] / loop_rate, 3),
        "loop_one_process_articles_per_s": round(one_rate, 1),
        "pipeline_vs_one_process_loop_ratio": round(got["rate"] / one_rate, 3),
        "latency_p50_ms": round(got["p50"], 1),
        "latency_p95_ms": round(got["p95"], 1),
        "worker_rss_mb": round(got["rss"], 1),
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    out = ROOT / "bench" / "results.json"
    merged = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**merged, **results}, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
