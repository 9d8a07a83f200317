"""Celery wiring of the metrics files and the worker heartbeat (worker/metrics.py, worker/heartbeat.py).

- `worker_process_init` (in each pool child, right after the fork): the child's metrics go to the
  multiprocess directory under its host and pool process index, so a recycled child's
  replacement reuses the file instead of adding one (see worker.metrics).
- `worker_ready` (in the main process): the heartbeat file is written at once and then every
  `HEARTBEAT_EVERY_S` from the consumer's timer.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from celery import Celery, signals
from celery.utils.log import current_process_index

from worker import metrics
from worker.config import Settings
from worker.heartbeat import HEARTBEAT_EVERY_S, write_worker_heartbeat

log = logging.getLogger(__name__)


def connect(app: Celery, settings: Settings) -> None:
    """Connect the signal handlers for the worker built from `settings`."""
    data_dir = settings.service.data_dir

    def init_metrics(**_: Any) -> None:
        index = current_process_index(base=1) or 0
        identifier = metrics.process_identifier(socket.gethostname(), index)
        metrics.init_process(metrics.metrics_dir(data_dir), identifier)

    def start_heartbeat(sender: Any = None, **_: Any) -> None:
        def beat() -> None:
            try:
                write_worker_heartbeat(data_dir)
            except OSError as exc:  # a full disk must not take the consumer down; health will say so
                log.warning("cannot write the worker heartbeat: %s", exc)

        beat()
        sender.timer.call_repeatedly(HEARTBEAT_EVERY_S, beat)

    signals.worker_process_init.connect(init_metrics, weak=False)
    signals.worker_ready.connect(start_heartbeat, weak=False)
