"""The consumption watchdog: its verdicts, its Redis probe, and a worker on a half-open broker link."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from tests.faults.proxy import PausableProxy
from tests.faults.support import assert_healthy, fault_stack
from tests.support.clock import Clock
from tests.support.services import RedisServer
from worker.celery_app import STALL_EXIT_CODE, STALL_HARD_EXIT_S
from worker.watchdog import ConsumptionWatchdog, Probe, redis_probe

STUCK = Probe(waiting=3, slot_free=True)


def _verdicts(watchdog: ConsumptionWatchdog, clock: Clock, probes: list[Probe]) -> list[bool]:
    out = []
    for probe in probes:
        out.append(watchdog.check(probe) is not None)
        clock.now += 5
    return out


def test_stall_is_reported_only_after_the_condition_held_for_stall_s() -> None:
    clock = Clock()
    watchdog = ConsumptionWatchdog(stall_s=10, clock=clock)
    assert _verdicts(watchdog, clock, [STUCK, STUCK, STUCK]) == [False, False, True]
    reason = watchdog.check(STUCK)
    assert reason is not None and "3 message(s) waiting" in reason


@pytest.mark.parametrize(
    "healthy",
    [
        Probe(waiting=0, slot_free=True),
        Probe(waiting=3, slot_free=False),
        Probe(waiting=None, slot_free=True),
    ],
    ids=["queue-empty", "all-slots-busy", "redis-down"],
)
def test_any_healthy_probe_restarts_the_stall_clock(healthy: Probe) -> None:
    clock = Clock()
    watchdog = ConsumptionWatchdog(stall_s=10, clock=clock)
    assert _verdicts(watchdog, clock, [STUCK, STUCK, healthy, STUCK, STUCK, STUCK]) == [
        False, False, False, False, False, True,
    ]


def test_a_received_message_restarts_the_stall_clock() -> None:
    clock = Clock()
    watchdog = ConsumptionWatchdog(stall_s=10, clock=clock)
    assert _verdicts(watchdog, clock, [STUCK, STUCK]) == [False, False]
    watchdog.note_received()
    assert _verdicts(watchdog, clock, [STUCK, STUCK, STUCK, STUCK]) == [False, False, False, True]


def test_redis_probe_counts_waiting_messages_in_every_priority_list(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url)
        client.lpush("celery", "a", "b")
        client.lpush("celery\x06\x166", "c")
        client.lpush("other", "d")
        assert redis_probe(server.url, ["celery"], lambda: True)() == Probe(waiting=3, slot_free=True)
        server.kill()
        assert redis_probe(server.url, ["celery"], lambda: False)() == Probe(waiting=None, slot_free=False)


@pytest.mark.faults
@pytest.mark.integration
@pytest.mark.timeout(150)
def test_worker_on_a_half_open_broker_link_exits_and_a_fresh_worker_takes_over(tmp_path: Path) -> None:
    # The worker's broker sockets stop moving bytes without a reset (a NAT that forgot the flow)
    # while new connections work: no error ever reaches the consumer, messages pile up.
    with (
        fault_stack(tmp_path, service={"consumer_stall_s": 8}) as world,
        PausableProxy(world.redis.port) as proxy,
    ):
        stuck = world.worker(env={"NEWSWATCH_BROKER_URL": proxy.url})
        assert world.probe(30), "the worker did not consume before the fault"
        proxy.freeze_open_connections()
        frozen = time.monotonic()
        time.sleep(3)  # let in-flight replies settle: a probe sent at once was seen to get through
        assert not world.probe(5), "the frozen worker still consumed: the fault was not injected"
        assert stuck.proc is not None
        assert stuck.proc.wait(80) == STALL_EXIT_CODE
        # stall_s, the probe interval, then a warm shutdown cut short after STALL_HARD_EXIT_S
        assert time.monotonic() - frozen < 8 + 2 + STALL_HARD_EXIT_S + 25
        assert "consumer stalled" in stuck.log()
        world.worker()
        assert_healthy(world)
