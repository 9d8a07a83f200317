"""An entry whose processing fails every time — by exception, or by killing its pool process —
ends `failed` with its reason after a bounded number of attempts, on the embedded SQLite broker
and on Redis, and is never offered again; every other alert is still delivered. On the embedded
broker too, a task that kills its pool process is quarantined after 3 deliveries."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.brokers import BROKERS, broker_service, publish
from tests.faults.plugin_tasks import CRASH, CRASH_MARKER, PROBE, RAISE_MARKER
from tests.faults.support import ARTICLES, assert_delivered, assert_healthy, fault_stack
from tests.support.services import wait_until
from worker.broker import DEFAULT
from worker.processing import MAX_ATTEMPTS

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(180)]


def _plant(tmp_path: Path, marker: str) -> str:
    """Put `marker` into the first seed article page; returns its URL path."""
    page = tmp_path / "site" / "articles" / ARTICLES[0]
    html = page.read_text(encoding="utf-8")
    page.write_text(html.replace("</body>", f"<!-- {marker} --></body>"), encoding="utf-8")
    return f"/articles/{ARTICLES[0]}"


@pytest.mark.parametrize("broker", BROKERS)
@pytest.mark.parametrize("fault", ["raise", "crash"])
def test_entry_failing_every_time_ends_failed_after_bounded_attempts(
    tmp_path: Path, broker: str, fault: str
) -> None:
    service = broker_service(tmp_path, broker)
    # a killed process leaks its per-host slot until the slot's lease ends: room for every attempt
    with fault_stack(tmp_path, service=service, fetch={"per_host_concurrency": 5}) as world:
        path = _plant(tmp_path, RAISE_MARKER if fault == "raise" else CRASH_MARKER)
        worker = world.worker()
        world.start("beat")
        assert wait_until(lambda: world.query("SELECT 1 FROM entries WHERE state = 'failed'") != [], 120), (
            world.query("SELECT link, state, attempts, error FROM entries WHERE state != 'done'"),
            world.site.hits[path],
        )
        ((link, error, attempts),) = world.query(
            "SELECT link, error, attempts FROM entries WHERE state = 'failed'"
        )
        assert link.endswith(path)
        assert f"gave up after {MAX_ATTEMPTS} attempts" in error and attempts == MAX_ATTEMPTS
        assert ("injected extraction failure" if fault == "raise" else "died each time") in error
        assert world.site.hits[path] == MAX_ATTEMPTS
        assert world.wait_all_final(60), world.states()  # the failed page's story has no message
        time.sleep(12)  # two sweeps and more: a failed entry is never offered again
        assert world.site.hits[path] == MAX_ATTEMPTS
        assert worker.proc is not None and worker.proc.poll() is None
        assert_delivered(world, failed_pages=(ARTICLES[0],))
        if broker == "redis":
            assert_healthy(world)


def test_a_task_that_kills_its_process_is_quarantined_on_the_embedded_broker(tmp_path: Path) -> None:
    with fault_stack(tmp_path, service=broker_service(tmp_path, "sqlite")) as world:
        worker = world.worker()
        assert wait_until(lambda: "ready" in worker.log(), 60), worker.log()[-3000:]
        probe = tmp_path / "probe"
        publish(world, "sqlite", PROBE, [str(probe)], DEFAULT)
        assert wait_until(probe.exists, 60), worker.log()[-3000:]
        crashes = tmp_path / "crashes"
        publish(world, "sqlite", CRASH, [str(crashes)], DEFAULT)
        assert wait_until(lambda: "quarantined" in worker.log(), 90), worker.log()[-3000:]
        again = tmp_path / "probe-again"
        publish(world, "sqlite", PROBE, [str(again)], DEFAULT)
        assert wait_until(again.exists, 60)  # the worker consumes after the quarantine
        assert len(crashes.read_text(encoding="utf-8").split()) == 3
        assert worker.proc is not None and worker.proc.poll() is None
