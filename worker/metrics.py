"""Per-process counters and latencies of the pipeline tasks, for `/metrics` (worker/serve/).

Worker pool children write through `prometheus_client`'s multiprocess mode into one directory
(`<data_dir>/metrics` unless `PROMETHEUS_MULTIPROC_DIR` is set) that `newswatch serve` reads at
scrape time. The files are keyed by host and pool process INDEX, not by PID: Celery recycles its
children (`worker_max_tasks_per_child`), and per-PID files would pile up without bound until a
scrape takes seconds (client_python #367). A replacement child takes over the index, and so the
file, of the one it replaces, and carries its counts on; the directory holds at most
`hosts × (concurrency + 1)` files of each type. Only counters and histograms are written (their
merge is a sum, whatever process wrote a file), never live gauges, which would need the PID.

Outside a configured process (tests, `newswatch run --once`) the metrics are plain in-memory
values, so the stage wrappers can record unconditionally.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import Counter, Histogram, values

ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"
TASKS = ("poll", "process", "send")  # the `task` label: a small fixed set
# From a 304 in a few milliseconds to a slow page extraction or a provider's timeout.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class _Metrics:
    def __init__(self) -> None:
        self.duration = Histogram(
            "newswatch_task_duration_seconds",
            "Wall time of one pipeline task (poll: fetch and parse; process: extract, match, "
            "stories and alerts; send: one provider call)",
            ["task"],
            buckets=BUCKETS,
            registry=None,
        )
        self.outcomes = Counter(
            "newswatch_task_outcomes",
            "Pipeline tasks by outcome (the stage's own outcome, or `error` when it raised)",
            ["task", "outcome"],
            registry=None,
        )


_metrics: _Metrics | None = None


def metrics_dir(data_dir: Path) -> Path:
    """Where workers write and `serve` reads the multiprocess files."""
    return Path(os.environ.get(ENV_DIR) or data_dir / "metrics")


def process_identifier(host: str, index: int) -> str:
    """The file key of one pool process: host and pool index (no `_`, the file-name separator)."""
    return f"{re.sub(r'[^A-Za-z0-9.-]', '-', host)}-{index}"


def init_process(directory: Path, identifier: str) -> None:
    """Switch this process to multiprocess files named by `identifier` (call once, right after
    the fork and before anything is recorded)."""
    global _metrics
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[ENV_DIR] = str(directory)
    values.ValueClass = values.MultiProcessValue(process_identifier=lambda: identifier)  # type: ignore[no-untyped-call]
    _metrics = _Metrics()


def _get() -> _Metrics:
    global _metrics
    if _metrics is None:
        _metrics = _Metrics()
    return _metrics


def record(task: str, outcome: str, seconds: float) -> None:
    """Count one finished task and its duration."""
    m = _get()
    m.duration.labels(task).observe(seconds)
    m.outcomes.labels(task, outcome).inc()


@contextmanager
def timed(task: str) -> Iterator[list[str]]:
    """Time the block and record it with the outcome the block puts in the yielded list
    (`error` when it raises; the exception propagates)."""
    outcome: list[str] = []
    start = time.perf_counter()
    try:
        yield outcome
    except BaseException:
        record(task, "error", time.perf_counter() - start)
        raise
    record(task, outcome[0] if outcome else "unknown", time.perf_counter() - start)
