"""Shared helpers of the politeness, health and hostile-input tests: a hand-moved clock, store
backends, feed documents, and a SiteServer that measures requests in flight."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import func, select

from tests.integration.helpers import write_config
from tests.support.clock import T0, Clock  # noqa: F401 - re-exported for the tests here
from tests.support.site_server import SiteServer
from worker.config import load_settings
from worker.runtime import Runtime
from worker.schema import feeds


def runtime(
    tmp_path: Path,
    *,
    feeds_: list[dict[str, Any]],
    channels: dict[str, list[str]] | None = None,
    database_url: str | None = None,
    clock: Clock | None = None,
    extra: dict[str, Any] | None = None,
) -> Runtime:
    """A Runtime over a fresh configuration (shipped watchlist) with an injected clock."""
    config = write_config(
        tmp_path,
        feeds=feeds_,
        channels=channels or {"sink": ["jsonl://" + str(tmp_path / "alerts.jsonl")]},
        database_url=database_url,
        extra=extra,
    )
    return Runtime(load_settings(config), clock=clock or Clock())


def rss(items: list[dict[str, str]], *, title: str = "Test feed") -> bytes:
    """An RSS 2.0 document; each item may have guid, title, link, description."""
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{escape(title)}</title>'
    ]
    for item in items:
        fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in item.items())
        parts.append(f"<item>{fields}</item>")
    parts.append("</channel></rss>\n")
    return "".join(parts).encode("utf-8")


def feed_id(rt: Runtime, name: str) -> int:
    """The store id of the feed called `name`."""
    with rt.engine.connect() as conn:
        return int(conn.execute(select(feeds.c.id).where(feeds.c.name == name)).scalar_one())


def feed_row(rt: Runtime, name: str) -> Any:
    """The stored row of the feed called `name`."""
    with rt.engine.connect() as conn:
        return conn.execute(select(feeds).where(feeds.c.name == name)).one()


def count(rt: Runtime, table: Any) -> int:
    """Rows in `table`."""
    with rt.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


class GaugedSite(SiteServer):
    """A SiteServer that records, per request, its start time and the requests in flight.

    A request counts as in flight from its arrival until its delay has passed (set_delay makes
    that window dominate the request's life)."""

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        super().__init__(root, host)
        self._gauge = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.starts: list[float] = []

    def __enter__(self) -> GaugedSite:
        super().__enter__()
        return self

    def _pause(self, path: str) -> None:
        with self._gauge:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.starts.append(time.monotonic())
        try:
            super()._pause(path)
        finally:
            with self._gauge:
                self.in_flight -= 1

    def min_gap(self) -> float:
        """The smallest gap between two consecutive request starts (inf with fewer than two)."""
        with self._gauge:
            starts = sorted(self.starts)
        return min((b - a for a, b in zip(starts, starts[1:], strict=False)), default=float("inf"))
