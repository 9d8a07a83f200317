"""The worker's main process compiles the watchlist and the story tables once, before it forks
its pool (`NewswatchCelery.precompile`, on Celery's `worker_init` signal): a pool process forked
afterwards matches with those objects and never compiles its own. Run in a fresh interpreter (the
collector is frozen there), with a real `os.fork()`; in the child, compiling raises, so a child
that compiles fails the test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.helpers import ROOT, write_config

pytestmark = pytest.mark.timeout(120)

SCRIPT = r"""
import gc, os, sys
from celery import signals
import worker.runtime
from worker.config import load_settings
from worker.celery_app import make_celery

app = make_celery(load_settings(sys.argv[1]))
signals.worker_init.send(sender=None)
assert gc.get_freeze_count() > 0, "the collector was not frozen"
matcher, clusterer = app._compiled.matcher, app._compiled.clusterer
pid = os.fork()
if pid == 0:
    def refuse(*_a, **_k):
        raise SystemExit("a pool process compiled its own watchlist")
    worker.runtime.compile_watchlist = refuse
    rt = app.runtime()
    hits = {m.watch_id for m in rt.matcher.match("Sergei Shoigu met Iranian officials in Tehran")}
    ok = rt.matcher is matcher and rt.clusterer is clusterer and "shoigu" in hits
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_pool_processes_use_the_watchlist_compiled_before_the_fork(tmp_path: Path) -> None:
    config = write_config(tmp_path, feeds=[], channels={"hook": ["json://127.0.0.1:9/x"]})
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(config)], cwd=ROOT, capture_output=True,
                          text=True, timeout=100, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
