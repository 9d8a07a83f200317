"""Test-only Celery tasks, loaded by fault-test workers through NEWSWATCH_TEST_ONLY_TASKS_MODULE.

`probe` proves a worker consumes (it touches a file); `allocate` grabs memory past the per-process
ceiling; `crash` SIGKILLs its own pool child, every time, like a segfault or the OOM killer; `hold`
keeps its pool child busy (late ack, like every pipeline task but send) until the test creates
`<marker>.release`.

It also arms two page faults in the worker's extraction stage: an article page containing
`RAISE_MARKER` makes its processing raise, one containing `CRASH_MARKER` SIGKILLs the pool
process that extracts it — every time, like a parser bug or a segfault in a C extension.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import worker.processing
from tasks.pipeline import QUARANTINED, quarantined

PROBE, ALLOCATE, CRASH, HOLD = (
    "newswatch.test_only.probe",
    "newswatch.test_only.allocate",
    "newswatch.test_only.crash",
    "newswatch.test_only.hold",
)
RAISE_MARKER = "newswatch-test-fault:raise"
CRASH_MARKER = "newswatch-test-fault:crash"


def _arm_page_faults() -> None:
    extract = worker.processing.extract_page  # type: ignore[attr-defined]

    def faulty_extract(html: str, *, url: str) -> Any:
        if RAISE_MARKER in html:
            raise RuntimeError("injected extraction failure")
        if CRASH_MARKER in html:
            os.kill(os.getpid(), signal.SIGKILL)
        return extract(html, url=url)

    worker.processing.extract_page = faulty_extract  # type: ignore[attr-defined,assignment]


def register(app: Any) -> None:
    """Add the test-only tasks to `app` and arm the page faults."""
    _arm_page_faults()

    @app.task(name=PROBE)  # type: ignore[untyped-decorator]
    def probe(path: str) -> str:
        Path(path).write_text(str(os.getpid()), encoding="utf-8")
        return "ok"

    @app.task(name=ALLOCATE)  # type: ignore[untyped-decorator]
    def allocate(megabytes: int, marker: str) -> int:
        Path(marker).write_text("started", encoding="utf-8")
        block = b"x" * (megabytes * 1024 * 1024)
        return len(block)

    @app.task(name=CRASH, bind=True)  # type: ignore[untyped-decorator]
    def crash(self: Any, marker: str) -> str:
        if quarantined(app, self):
            return QUARANTINED
        with open(marker, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\n")
        os.kill(os.getpid(), signal.SIGKILL)
        return "unreachable"

    @app.task(name=HOLD)  # type: ignore[untyped-decorator]
    def hold(marker: str) -> str:
        Path(marker).write_text(str(os.getpid()), encoding="utf-8")
        release = Path(f"{marker}.release")
        deadline = time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return "released"
