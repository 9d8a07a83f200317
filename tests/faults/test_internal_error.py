"""A programming error inside a send (not a network or provider answer): logged once with its
traceback, never retried as transient, and nothing lost: the operator offers it again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.support import WORKER_ENV, assert_delivered, assert_healthy, fault_stack
from tests.support.services import ROOT

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.delivers, pytest.mark.timeout(240)]

LOGGED = "failed inside newswatch or Apprise, not retried"


def test_internal_send_error_fails_once_then_retry_failed_delivers_everything(tmp_path: Path) -> None:
    with fault_stack(tmp_path, delivery={"backoff_s": [1, 1, 1]}) as world:
        world.start("beat")
        broken = world.worker(env={"NEWSWATCH_TEST_ONLY_TASKS_MODULE": "tests.faults.broken_send"})
        assert world.wait_all_final(90), world.states()
        rows = world.query("SELECT state, attempts, last_error FROM deliveries")
        assert rows
        for state, attempts, error in rows:
            assert (state, attempts) == ("failed", 1), (state, attempts, error)
            assert "internal error: AttributeError: property 'secure_logging'" in error, error
        assert world.hook.requests == [], "a broken send reached the receiver"
        log = broken.log()
        assert log.count(LOGGED) == len(rows), log[-3000:]
        assert log.count("Traceback (most recent call last)") == len(rows)
        assert broken.stop(group=False)

        # The operator fixes the installation, then offers the failed deliveries again.
        offered = subprocess.run(
            [sys.executable, "-m", "worker.cli", "--config", str(world.config), "alerts", "--retry-failed"],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
            env={**os.environ, **WORKER_ENV, "PYTHONPATH": str(ROOT)},
        )
        assert offered.returncode == 0, offered.stderr
        assert f"newswatch: {len(rows)} failed delivery(ies) offered again" in offered.stdout
        world.worker()
        assert world.wait_all_final(90), world.states()
        assert_delivered(world)
        assert_healthy(world)
