"""Hostile and crashing messages: foreign payloads pushed into the queue, a task that kills its
pool child every time, and a task that allocates past the per-process memory ceiling."""

from __future__ import annotations

import base64
import json
import pickle
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

from tests.faults.plugin_tasks import ALLOCATE, CRASH
from tests.faults.support import assert_delivered, assert_healthy, fault_stack
from tests.support.services import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.delivers, pytest.mark.timeout(150)]


class _Touch:
    """Unpickling this runs `touch <path>`: the payload of a pickle-borne attack."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        import os

        return (os.system, (f"touch {self.path}",))


def _envelope(task: str, body: bytes, content_type: str = "application/json") -> bytes:
    tid = str(uuid.uuid4())
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "binary" if "pickle" in content_type or "python" in content_type else "utf-8",
            "content-type": content_type,
            "headers": {
                "lang": "py",
                "task": task,
                "id": tid,
                "root_id": tid,
                "argsrepr": "",
                "kwargsrepr": "",
            },
            "properties": {
                "correlation_id": tid,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": "celery"},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    ).encode()


def test_foreign_messages_are_rejected_and_a_crashing_task_is_quarantined(tmp_path: Path) -> None:
    with fault_stack(tmp_path) as world:
        pwned = tmp_path / "pwned"
        crashes = tmp_path / "crashes"
        worker = world.worker()
        assert world.probe(30)
        client = redis.Redis(host="127.0.0.1", port=world.redis.port)
        sweep_body = json.dumps([[], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
        client.lpush(
            "celery",
            _envelope("newswatch.sweep", pickle.dumps(_Touch(pwned)), "application/x-python-serialize"),
            _envelope("newswatch.no_such_task", sweep_body.encode()),
            _envelope("newswatch.poll_feed", b"{not json"),
            b"{not even an envelope",
        )
        client.close()
        world.send_task(CRASH, [str(crashes)])
        world.start("beat")
        assert world.wait_all_final(90), world.states()
        assert wait_until(lambda: "quarantined" in worker.log(), 30), "the crashing task was not quarantined"
        time.sleep(5)
        runs = crashes.read_text(encoding="utf-8").split()
        assert len(runs) == 3, f"the crashing task ran {len(runs)} times"
        assert not pwned.exists(), "a pickle payload was executed"
        assert worker.proc is not None and worker.proc.poll() is None
        log = worker.log()
        assert "newswatch.no_such_task" in log  # the unregistered task is reported, not run
        assert_delivered(world)
        assert_healthy(world)


def test_runaway_allocation_fails_one_task_and_the_worker_survives(tmp_path: Path) -> None:
    limit_mb = 1024
    with fault_stack(tmp_path, service={"memory_limit_mb": limit_mb}) as world:
        worker = world.worker()
        assert world.probe(30)
        assert worker.proc is not None
        children = psutil.Process(worker.proc.pid).children()
        assert children and all(c.rlimit(psutil.RLIMIT_AS)[0] == limit_mb * 1024 * 1024 for c in children)
        marker = tmp_path / "allocating"
        world.send_task(ALLOCATE, [4 * limit_mb, str(marker)])
        assert wait_until(marker.exists, 30)
        assert wait_until(lambda: "OutOfMemory" in worker.log(), 30), worker.log()[-3000:]
        world.start("beat")
        assert world.wait_all_final(90), world.states()
        assert worker.proc.poll() is None
        assert_delivered(world)
        assert_healthy(world)
