"""Test-only worker module: every send in a pool process hits a programming error, as on the
clean install that pulled Apprise 2.3 (`secure_logging` became read-only). Loaded through
NEWSWATCH_TEST_ONLY_TASKS_MODULE after the start-up self-check has passed, like a fault that only
shows inside a send."""

from __future__ import annotations

from typing import Any

from celery import signals

import alerts.deliver
from tests.faults import plugin_tasks


def _broken_asset() -> Any:
    raise AttributeError("property 'secure_logging' of 'AppriseAsset' object has no setter")


def register(app: Any) -> None:
    """The usual test-only tasks, and a broken `make_asset` in every pool process."""
    plugin_tasks.register(app)

    def break_sends(**_: Any) -> None:
        alerts.deliver.make_asset = _broken_asset  # type: ignore[assignment]

    signals.worker_process_init.connect(break_sends, weak=False)
