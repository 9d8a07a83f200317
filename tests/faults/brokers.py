"""Helpers for fault tests that run on either broker: the embedded SQLite one or Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery

from tests.faults.support import Stack
from worker.broker import broker_settings

BROKERS = ("sqlite", "redis")


def broker_service(tmp_path: Path, broker: str) -> dict[str, Any]:
    """`service` settings for `fault_stack`: the embedded broker file, or the stack's Redis."""
    if broker == "sqlite":
        return {"broker_url": f"sqla+sqlite:///{tmp_path / 'data' / 'broker.db'}"}
    return {}


def broker_url(world: Stack, broker: str) -> str:
    return f"sqla+sqlite:///{world.tmp / 'data' / 'broker.db'}" if broker == "sqlite" else world.redis.url


def publish(world: Stack, broker: str, name: str, args: list[Any], queue: str) -> None:
    """Enqueue task `name` on `queue`, through a producer configured like newswatch's own."""
    app = Celery("fault-test", set_as_current=False)
    app.conf.update(broker_settings(broker_url(world, broker)))
    app.conf.update(task_serializer="json", broker_connection_retry_on_startup=True)
    with app.connection_for_write() as conn:
        app.send_task(name, args=args, connection=conn, queue=queue)
    app.close()
