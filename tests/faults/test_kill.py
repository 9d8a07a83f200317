"""Process kills on real workers: a pool child mid-task, the whole worker mid-send, SIGTERM."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from tests.faults.support import ARTICLES, assert_delivered, assert_healthy, fault_stack
from tests.support.services import NewswatchProcess, wait_until
from tests.support.site_server import SiteServer
from worker.config import ServiceSpec

# a shorter task time limit than the shipped 120 s, so the processing lease (0.75 of it) ends soon
TIME_LIMIT_S = 30
PROCESS_LEASE_S = ServiceSpec(task_time_limit_s=TIME_LIMIT_S).lease_s

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.delivers, pytest.mark.timeout(150)]


def _child_fetching(worker: NewswatchProcess, site: SiteServer, path: str, nth: int) -> psutil.Process | None:
    """The pool process holding open the `nth` request for `path`, found by the client port the
    site saw (any other child talking to the site may be fetching a fast page)."""
    ports = site.client_ports(path)
    if len(ports) < nth or worker.proc is None:
        return None
    for child in psutil.Process(worker.proc.pid).children(recursive=True):
        try:
            if any(c.laddr and c.laddr.port == ports[nth - 1] for c in child.net_connections("tcp")):
                return child
        except psutil.Error:
            continue
    return None


def test_pool_child_killed_mid_task_is_redelivered_and_alerts_once(tmp_path: Path) -> None:
    slow = f"/articles/{ARTICLES[0]}"
    with fault_stack(tmp_path, service={"log_level": "DEBUG"}) as world:
        world.site.set_delay(slow, 8)
        worker = world.worker()
        world.start("beat")
        assert wait_until(lambda: world.site.hits[slow] >= 1, 40), "the slow page was never fetched"
        assert wait_until(lambda: _child_fetching(worker, world.site, slow, 1) is not None, 5)
        victim = _child_fetching(worker, world.site, slow, 1)
        assert victim is not None
        victim.send_signal(signal.SIGKILL)
        world.site.set_delay(slow, 0)
        assert wait_until(lambda: world.site.hits[slow] >= 2, 40), "process_entry was not redelivered"
        assert world.wait_all_final(60), world.states()
        assert "WorkerLostError" in worker.log() or "signal 9" in worker.log()
        assert_delivered(world)
        assert worker.proc is not None and psutil.pid_exists(worker.proc.pid)
        assert_healthy(world)


def test_entry_that_kills_its_process_every_time_ends_failed_with_reason(tmp_path: Path) -> None:
    deadly = f"/articles/{ARTICLES[0]}"
    # Each killed process leaks its per-host slot until the slot's lease ends: room for all three.
    with fault_stack(tmp_path, fetch={"per_host_concurrency": 5}) as world:
        world.site.set_delay(deadly, 30)
        worker = world.worker()
        world.start("beat")
        for nth in (1, 2, 3):  # redelivered twice, then quarantined at the fourth delivery
            found = wait_until(lambda n=nth: _child_fetching(worker, world.site, deadly, n) is not None, 40)
            assert found, f"request {nth} for the page never came"
            victim = _child_fetching(worker, world.site, deadly, nth)
            assert victim is not None
            victim.send_signal(signal.SIGKILL)
        assert wait_until(lambda: world.query("SELECT state FROM entries WHERE state = 'failed'") != [], 40)
        ((link, error),) = world.query("SELECT link, error FROM entries WHERE state = 'failed'")
        assert link.endswith(deadly) and "gave up after 3 attempts" in error
        assert world.site.hits[deadly] == 3
        assert world.wait_all_final(60), world.states()  # the failed page's story has no message
        assert_delivered(world, failed_pages=(ARTICLES[0],))
        assert_healthy(world)


@pytest.mark.timeout(PROCESS_LEASE_S + 150)
def test_whole_worker_killed_mid_send_recovers_without_visibility_timeout(tmp_path: Path) -> None:
    with fault_stack(tmp_path, service={"task_time_limit_s": TIME_LIMIT_S}) as world:
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
        # The kombu visibility timeout is 3600 s: recovery is the sweepers' work, within 60 s for
        # deliveries; an entry that was being processed when the worker died is offered again when
        # its processing lease ends.
        assert world.wait_all_final(PROCESS_LEASE_S + 60), world.states()
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
