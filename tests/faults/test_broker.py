"""Broker faults: redis-server killed (with and without AOF), also while a task finishes, the link to
it paused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from tests.faults.plugin_tasks import HOLD
from tests.faults.proxy import PausableProxy
from tests.faults.support import (
    Stack,
    assert_delivered,
    assert_healthy,
    assert_ids_only,
    fault_stack,
    redis_dump,
)
from tests.support.services import RedisServer, wait_until
from worker.kombu_internals import SAFE_REDIS_TRANSPORT, BrokerConnectionLost

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.timeout(150)]


def _restart_redis(world: Stack, appendonly: bool) -> None:
    """kill -9 the redis-server and start a new one on the same port (same dir: AOF reloads)."""
    world.redis.kill()
    _start_redis_again(world, appendonly)


def _start_redis_again(world: Stack, appendonly: bool) -> None:
    """Start a new redis-server on the port (and in the directory) of the killed one."""
    fresh = RedisServer(world.redis.workdir, appendonly=appendonly)
    fresh.port = world.redis.port
    world.redis = fresh.start()
    world.exits.callback(fresh.stop)


def _queued_sends(world: Stack) -> bool:
    states = world.states()
    return states["sent"] >= 1 and states["pending"] >= 3


def _slow_receivers(world: Stack, seconds: float) -> None:
    for receiver in world.receivers.values():
        receiver.set_delay(seconds)


@pytest.mark.parametrize("appendonly", [False, True], ids=["no-persistence", "aof"])
@pytest.mark.delivers
def test_redis_killed_while_alerts_are_queued(tmp_path: Path, appendonly: bool) -> None:
    # One message per story: six destinations give each message six sends, and with one slow
    # pool process most of them wait in Redis when it dies.
    with fault_stack(tmp_path, appendonly=appendonly, hooks=6) as world:
        _slow_receivers(world, 1.0)
        world.start("beat")
        world.worker(concurrency=1)
        assert wait_until(lambda: _queued_sends(world), 60), world.states()
        assert assert_ids_only(redis_dump(world.redis)) >= 1, "no task message seen in Redis"
        _restart_redis(world, appendonly)
        restarted = time.monotonic()
        _slow_receivers(world, 0)
        assert world.probe(30), "the worker did not resume consuming within 30 s of the restart"
        assert time.monotonic() - restarted < 30
        assert world.wait_all_final(60), world.states()
        assert_delivered(world)
        assert_healthy(world)


@pytest.mark.delivers
def test_broker_link_paused_then_resumed(tmp_path: Path) -> None:
    with fault_stack(tmp_path) as world, PausableProxy(world.redis.port) as proxy:
        world.hook.set_delay(0.3)
        world.start("beat")
        world.worker(env={"NEWSWATCH_BROKER_URL": proxy.url})
        assert wait_until(lambda: world.states()["sent"] >= 1, 60), world.states()
        proxy.pause()
        time.sleep(10)
        proxy.resume()
        world.hook.set_delay(0)
        assert world.probe(30), "consumption did not resume within 30 s of the link coming back"
        assert world.wait_all_final(60), world.states()
        assert_delivered(world)
        assert_healthy(world)


@pytest.mark.parametrize("appendonly", [False, True], ids=["no-persistence", "aof"])
def test_task_finishing_while_redis_is_down_does_not_stop_consumption(
    tmp_path: Path, appendonly: bool
) -> None:
    # One pool process and prefetch 1: the running task holds the only prefetch slot, so no BRPOP
    # is pending when redis-server dies, and the task's ack fails because the broker is still down.
    # A worker that kept the unacked slot (or never noticed the loss) would never consume again.
    with fault_stack(tmp_path, appendonly=appendonly) as world:
        worker = world.worker(concurrency=1)
        assert world.probe(30)
        marker = tmp_path / "held"
        world.send_task(HOLD, [str(marker)])
        assert wait_until(marker.exists, 30), "the holding task did not start"
        world.redis.kill()
        Path(f"{marker}.release").touch()
        time.sleep(3)  # the task returns, or is cancelled, while the broker is down
        _start_redis_again(world, appendonly)
        restarted = time.monotonic()
        assert world.probe(30), "the worker did not resume consuming within 30 s of the restart"
        assert time.monotonic() - restarted < 30
        assert worker.proc is not None and worker.proc.poll() is None
        assert_healthy(world)


def _consume_one(conn: Any, received: list[Any]) -> Any:
    """Publish two messages and consume one with prefetch 1: the only prefetch slot is in use,
    so no BRPOP is pending (a pool process busy with a task, as in a worker)."""
    queue = Queue("slots", Exchange("slots", "direct"), routing_key="slots")  # type: ignore[no-untyped-call]
    with conn.Producer() as producer:
        for n in range(2):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key="slots", declare=[queue])
    consumer = conn.Consumer(queue, callbacks=[lambda _body, msg: received.append(msg)], prefetch_count=1)
    consumer.consume()
    conn.drain_events(timeout=5)
    assert len(received) == 1 and not conn.default_channel.qos.can_consume()
    return consumer


@pytest.mark.parametrize("ack_first", [True, False], ids=["ack-fails", "no-ack"])
def test_transport_reports_redis_lost_while_the_prefetch_slot_is_in_use(
    tmp_path: Path, ack_first: bool
) -> None:
    # The root cause of the worker that never consumed again after a Redis restart: with the slot
    # in use, kombu answered the closed consumer socket with a quiet disconnect, and an ack that
    # failed while Redis was down kept the slot for ever ("Couldn't ack"), so BRPOP was never sent
    # again. The transport must free the slot and raise a connection error into the consumer.
    with RedisServer(tmp_path / "redis") as server:
        with Connection(server.url, transport=SAFE_REDIS_TRANSPORT) as conn:  # type: ignore[no-untyped-call]
            received: list[Any] = []
            consumer = _consume_one(conn, received)
            server.kill()
            if ack_first:
                with pytest.raises(conn.connection_errors):
                    received[0].ack()
                assert conn.default_channel.qos.can_consume(), "a failed ack kept the prefetch slot"
            with pytest.raises(BrokerConnectionLost):
                conn.drain_events(timeout=5)
            consumer.close()
