"""The Celery application, configured from `Settings` for at-least-once delivery.

Settings follow reliability.md (c): JSON only, ids in messages, late acks that are rejected back
to the queue when a pool child dies, prefetch 1, no results, explicit task names. Each process
builds its own `Runtime` lazily after the fork (see `NewswatchCelery.runtime`).
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import signal
import threading
from datetime import timedelta
from typing import Any

from celery import Celery, Task, signals

from alerts.redact import RedactingFilter, quiet_apprise_logger
from worker import observability
from worker.broker import broker_settings
from worker.config import Settings
from worker.kombu_internals import check_internals
from worker.memlimit import set_memory_limit
from worker.redelivery import RedeliveryGuard, work_key
from worker.runtime import Runtime
from worker.watchdog import ConsumptionWatchdog, redis_probe, watch

log = logging.getLogger(__name__)

# Test suites only: a module whose `register(app)` adds tasks (fault injection). Never set in production.
EXTRA_TASKS_ENV = "NEWSWATCH_TEST_ONLY_TASKS_MODULE"
STALL_EXIT_CODE = 70  # EX_SOFTWARE: the worker stopped itself because its consumer stalled
STALL_HARD_EXIT_S = 30.0  # a warm shutdown that hangs on the dead connection is cut short


class OutOfMemory(Exception):
    """A task hit the per-process memory ceiling; a plain failure, not a worker crash."""


class ContainedTask(Task):  # type: ignore[misc]
    """Every newswatch task: a MemoryError becomes `OutOfMemory`. Celery treats a MemoryError that
    leaves a task as fatal for the whole worker ("Unrecoverable error"), which would turn one
    runaway document under RLIMIT_AS into an outage. The failure counts toward quarantine, so
    work that keeps exhausting memory (re-enqueued by the sweeper) stops being retried."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except MemoryError:
            app = self.app
            if isinstance(app, NewswatchCelery):
                app.guard().admit(work_key(self.name, list(args)), redelivered=True)
            limit = app.settings.service.memory_limit_mb if isinstance(app, NewswatchCelery) else "?"
            raise OutOfMemory(f"{self.name}{list(args)} exceeded the {limit} MiB memory limit") from None


class NewswatchCelery(Celery):  # type: ignore[misc]
    """A Celery app that carries the validated settings and a per-process `Runtime`."""

    exit_code = 0  # set when the worker stops itself (consumption watchdog)

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            "newswatch", broker=settings.broker_url, set_as_current=False, task_cls=ContainedTask
        )
        self.settings = settings
        self._runtime: tuple[int, Runtime] | None = None
        self._guard: tuple[int, RedeliveryGuard] | None = None
        self._compiled: Runtime | None = None  # built in the worker's main process, see `precompile`

    def runtime(self) -> Runtime:
        """This process's resources; rebuilt after a fork so no connection crosses processes.
        The compiled watchlist and story tables come from `precompile` when it ran."""
        if self._runtime is None or self._runtime[0] != os.getpid():
            rt = Runtime(self.settings)
            if self._compiled is not None:
                rt.adopt_compiled(self._compiled)
            self._runtime = (os.getpid(), rt)
        return self._runtime[1]

    def precompile(self) -> None:
        """Compile the watchlist and the story entity tables once, in the worker's main process
        before it forks its pool, then freeze the garbage collector's view of them: every pool
        process (and every recycled one) shares those pages instead of compiling its own copy
        (about 35 MB each on the shipped watchlist), and the collector never writes to them."""
        compiled = Runtime(self.settings)
        _ = compiled.matcher, compiled.clusterer  # no engine, no client: nothing that holds a socket
        self._compiled = compiled
        gc.collect()
        gc.freeze()

    def guard(self) -> RedeliveryGuard:
        """This process's redelivery counter (on the store of `runtime()`)."""
        if self._guard is None or self._guard[0] != os.getpid():
            rt = self.runtime()
            self._guard = (os.getpid(), RedeliveryGuard(rt.engine, rt.clock))
        return self._guard[1]


def make_celery(settings: Settings) -> NewswatchCelery:
    """Create the app, its configuration, its beat schedule and its tasks."""
    from tasks import register_tasks  # tasks depend on the app type defined here

    check_internals()
    app = NewswatchCelery(settings)
    tick = settings.service.tick_seconds
    app.conf.update(broker_settings(settings.broker_url))
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        task_ignore_result=True,
        task_soft_time_limit=settings.service.task_soft_limit_s,
        task_time_limit=settings.service.task_time_limit_s,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        worker_soft_shutdown_timeout=30,
        worker_enable_soft_shutdown_on_idle=True,
        worker_max_tasks_per_child=500,
        worker_max_memory_per_child=400_000,
        worker_redirect_stdouts=False,
        worker_hijack_root_logger=True,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        beat_schedule={
            "schedule-due-feeds": {
                "task": "newswatch.schedule_due_feeds",
                "schedule": timedelta(seconds=tick),
                "options": {"expires": tick},
            },
            "sweep-outbox": {
                "task": "newswatch.sweep",
                "schedule": timedelta(seconds=max(tick, 5.0)),
                "options": {"expires": max(tick, 5.0)},
            },
            "prune-expired": {  # retention (worker/retention.py)
                "task": "newswatch.prune",
                "schedule": timedelta(seconds=settings.retention.every_s),
                "options": {"expires": settings.retention.every_s},
            },
        },
        beat_schedule_filename=str(settings.service.data_dir / "beat-schedule"),
    )
    register_tasks(app)
    extra = os.environ.get(EXTRA_TASKS_ENV)
    if extra:
        importlib.import_module(extra).register(app)
    _connect_signals(app)
    return app


def _connect_signals(app: NewswatchCelery) -> None:
    secrets = app.settings.secrets()

    def redact_handlers(logger: logging.Logger | None = None, **_: Any) -> None:
        install_redaction(secrets, logger)

    def first_poll(**_: Any) -> None:
        app.send_task("newswatch.schedule_due_feeds", expires=60)

    def limit_memory(**_: Any) -> None:
        limit = set_memory_limit(app.settings.service.memory_limit_mb)
        log.debug("pool process %d: address space limited to %s bytes", os.getpid(), limit)

    def close_runtime(**_: Any) -> None:
        if app._runtime is not None and app._runtime[0] == os.getpid():
            app._runtime[1].close()

    signals.after_setup_logger.connect(redact_handlers, weak=False)
    signals.after_setup_task_logger.connect(redact_handlers, weak=False)
    signals.worker_init.connect(lambda **_: app.precompile(), weak=False)
    signals.worker_ready.connect(first_poll, weak=False)
    signals.worker_process_init.connect(limit_memory, weak=False)
    signals.worker_process_shutdown.connect(close_runtime, weak=False)
    observability.connect(app, app.settings)  # metrics files per pool index, worker heartbeat
    stall_s = app.settings.service.consumer_stall_s
    if stall_s > 0 and app.settings.broker_url.startswith(("redis://", "rediss://")):
        _connect_watchdog(app, stall_s)


def _connect_watchdog(app: NewswatchCelery, stall_s: float) -> None:
    """Start the consumption watchdog when the worker is ready (see worker.watchdog)."""
    from celery.worker import state as worker_state

    watchdog = ConsumptionWatchdog(stall_s)
    stop = threading.Event()

    def start(sender: Any = None, **_: Any) -> None:
        queues = [q.name for q in sender.task_consumer.queues]
        prefetch = max(1, int(sender.qos.value or sender.pool.num_processes))
        probe = redis_probe(
            app.conf.broker_url, queues, lambda: len(worker_state.reserved_requests) < prefetch
        )
        watch(watchdog, probe, on_stall, interval_s=min(5.0, stall_s / 4), stop=stop)

    def on_stall(reason: str) -> None:
        log.critical("%s; exiting with status %d for a fresh worker to take over", reason, STALL_EXIT_CODE)
        app.exit_code = STALL_EXIT_CODE
        hard_exit = threading.Timer(STALL_HARD_EXIT_S, _hard_exit)
        hard_exit.daemon = True
        hard_exit.start()
        os.kill(os.getpid(), signal.SIGTERM)  # warm shutdown: running tasks finish and are acked

    signals.worker_ready.connect(start, weak=False)
    signals.task_received.connect(lambda **_: watchdog.note_received(), weak=False)
    signals.worker_shutting_down.connect(lambda **_: stop.set(), weak=False)


def _hard_exit() -> None:
    import psutil

    log.critical("warm shutdown did not finish in %.0f s; exiting now", STALL_HARD_EXIT_S)
    for child in psutil.Process().children(recursive=True):
        child.kill()
    os._exit(STALL_EXIT_CODE)


def install_redaction(secrets: list[str], logger: logging.Logger | None = None) -> None:
    """Mask every configured secret on all handlers of `logger` (default: root) and keep the
    apprise logger at INFO or quieter."""
    quiet_apprise_logger()
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter(secrets))
