"""Process kills on real workers: a pool child mid-task, the whole worker mid-send, SIGTERM."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from tests.faults.support import ARTICLES, assert_delivered, assert_healthy, fault_stack
from tests.support.services import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(150)]


def test_pool_child_killed_mid_task_is_redelivered_and_alerts_once(tmp_path: Path) -> None:
    slow = f"/articles/{ARTICLES[0]}"
    with fault_stack(tmp_path, service={"log_level": "DEBUG"}) as world:
        world.site.set_delay(slow, 8)
        worker = world.worker()
        world.start("beat")
        assert wait_until(lambda: world.site.hits[slow] >= 1, 40), "the slow page was never fetched"
        assert worker.proc is not None
        # The child holding the slow request open, found by the client port the site saw: any
        # other child talking to the site may be fetching a fast page and finish on its own.
        client_port = world.site.client_ports(slow)[0]

        def fetching_child() -> psutil.Process | None:
            for child in psutil.Process(worker.proc.pid).children(recursive=True):  # type: ignore[union-attr]
                try:
                    if any(c.laddr and c.laddr.port == client_port for c in child.net_connections("tcp")):
                        return child
                except psutil.Error:
                    continue
            return None

        assert wait_until(lambda: fetching_child() is not None, 5)
        victim = fetching_child()
        assert victim is not None
        victim.send_signal(signal.SIGKILL)
        world.site.set_delay(slow, 0)
        assert wait_until(lambda: world.site.hits[slow] >= 2, 40), "process_entry was not redelivered"
        assert world.wait_all_final(60), world.states()
        assert "WorkerLostError" in worker.log() or "signal 9" in worker.log()
        assert_delivered(world)
        assert psutil.pid_exists(worker.proc.pid)
        assert_healthy(world)


def test_whole_worker_killed_mid_send_recovers_without_visibility_timeout(tmp_path: Path) -> None:
    with fault_stack(tmp_path) as world:
        world.hook.set_delay(1.5)
        world.start("beat")
        first = world.worker()
        assert wait_until(lambda: world.states()["sending"] >= 1, 60), world.states()
        assert first.proc is not None
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.wait(10)
        killed_with = world.states()
        world.hook.set_delay(0)
        world.worker()
        # The kombu visibility timeout is 3600 s: recovery within 60 s is the outbox sweeper's work.
        assert world.wait_all_final(60), world.states()
        assert killed_with["sent"] < world.n_expected_deliveries()
        assert_delivered(world, max_per_key=2)
        assert_healthy(world)


def test_sigterm_soft_shutdown_hands_work_to_a_new_worker(tmp_path: Path) -> None:
    with fault_stack(tmp_path) as world:
        world.hook.set_delay(1.0)
        world.start("beat")
        first = world.worker(concurrency=1)
        assert wait_until(lambda: world.states()["sending"] >= 1, 60), world.states()
        # As `docker stop` does: TERM to the main process only (a TERM to the whole process group
        # kills the pool children mid-send, which no soft shutdown can save).
        assert first.stop(signal.SIGTERM, timeout=45, group=False), "the soft shutdown did not end in 45 s"
        world.hook.set_delay(0)
        world.worker()
        assert world.wait_all_final(60), world.states()
        assert "WorkerLostError" not in first.log()
        assert_delivered(world)
        assert_healthy(world)
