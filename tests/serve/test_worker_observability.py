"""Real Redis, a real worker whose pool children are recycled every 2 tasks, real beat: the
per-process metrics add up to the store, the multiprocess directory does not grow with recycling,
and `newswatch health` / `/readyz` tell a live service from a dead one without the broker."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.helpers import SEEDS, write_config
from tests.serve.support import Serve, with_serve_settings
from tests.support.services import NewswatchProcess, RedisServer, wait_until
from tests.support.site_server import SiteServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _rows(db: Path, sql: str) -> list[tuple[int, ...]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []


def _health(config: Path, role: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", "--config", str(config), "health", "--role", role, *args],
        capture_output=True, text=True, timeout=60,
    )


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = httpx.get(f"{url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def _outcomes(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[tuple[str, str], float]:
    """`newswatch_task_outcomes_total` by (task, outcome)."""
    out = {}
    for (name, labels), value in samples.items():
        if name == "newswatch_task_outcomes_total":
            found = dict(labels)
            out[(found["task"], found["outcome"])] = value
    return out


def test_recycled_children_keep_one_metrics_file_per_pool_index(tmp_path: Path) -> None:
    db = tmp_path / "data" / "newswatch.db"
    mdir = tmp_path / "data" / "metrics"
    with SiteServer(SEEDS / "site") as site, RedisServer(tmp_path / "redis") as redis:
        config = write_config(
            tmp_path,
            feeds=[{"name": "seeds-http", "url": f"{site.url}feed.rss.xml", "interval": 10,
                    "allow_private": True, "backfill": "all"}],
            channels={"archive": [f"jsonl://{tmp_path / 'alerts.jsonl'}"]},
            broker_url=redis.url,
        )
        worker = NewswatchProcess(config, "worker", "--concurrency", "2", "--max-tasks-per-child", "2")
        with worker, NewswatchProcess(config, "beat"):
            children: set[int] = set()

            def settled() -> bool:
                assert worker.proc is not None
                children.update(c.pid for c in psutil.Process(worker.proc.pid).children())
                done = _rows(db, "SELECT count(*) FROM entries WHERE state = 'done'")
                sent = _rows(db, "SELECT count(*) FROM deliveries WHERE state = 'sent'")
                unsent = _rows(db, "SELECT count(*) FROM deliveries WHERE state != 'sent'")
                return bool(done and done[0][0] >= 5 and sent and sent[0][0] >= 1 and unsent[0][0] == 0)

            assert wait_until(settled, 120), worker.log()[-3000:]
            # a few dozen scheduler ticks and sweeps recycle more children
            deadline = time.monotonic() + 25
            while time.monotonic() < deadline:
                assert worker.proc is not None
                children.update(c.pid for c in psutil.Process(worker.proc.pid).children())
                time.sleep(0.2)
            assert len(children) >= 8, f"children were not recycled: {children}"

            files = sorted(os.listdir(mdir))
            host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())
            per_index = rf"(counter|histogram)_{re.escape(host)}-[12]\.db"
            assert files and all(re.fullmatch(per_index, f) for f in files), files
            assert len(files) <= 4, files  # 2 types × 2 pool indexes, however many children ran

            with Serve(config) as serve:
                samples = _samples(serve.url)
                articles = _rows(db, "SELECT count(*) FROM articles")[0][0]
                sent = _rows(db, "SELECT count(*) FROM deliveries WHERE state = 'sent'")[0][0]
                # children that recorded metrics (Celery names each new child ForkPoolWorker-<n>)
                recorders = set(re.findall(
                    r"ForkPoolWorker-(\d+)\] Task newswatch\.(?:poll_feeds?|process_entry|send_delivery)",
                    worker.log(),
                ))
                assert len(recorders) > 4, recorders  # keyed by PID, they would have left > 4 files
                outcomes = _outcomes(samples)
                assert outcomes[("process", "processed")] == articles
                assert outcomes[("send", "sent")] == sent
                assert outcomes[("poll", "fetched")] == 1
                for task in ("poll", "process", "send"):
                    count = samples[("newswatch_task_duration_seconds_count", (("task", task),))]
                    assert count == sum(n for (t, _), n in outcomes.items() if t == task), task
                tick = samples[("newswatch_scheduler_last_tick_timestamp_seconds", ())]
                assert time.time() - tick < 10
                ready = httpx.get(f"{serve.url}/readyz", timeout=10)
                assert ready.status_code == 200, ready.text

                assert _health(config, "worker").returncode == 0
                assert _health(config, "beat").returncode == 0
                served = with_serve_settings(config, {"port": serve.port})
                assert _health(served, "serve").returncode == 0
            assert sorted(os.listdir(mdir)) == files or len(os.listdir(mdir)) <= 4

        # everything stopped: the heartbeat and the tick age, serve is gone
        time.sleep(3)
        dead = _health(config, "worker", "--max-age", "2")
        assert dead.returncode == 1 and "UNHEALTHY" in dead.stdout, dead.stdout
        assert _health(config, "beat", "--max-age", "2").returncode == 1
        assert _health(served, "serve").returncode == 1
