"""Soak helpers for the loopback origin: one `SoakSite` per host IP, with a server-side in-flight
gauge, request-start times (for the spacing check) and per-request fault injection.

A request is "in flight" from the moment its request line and headers are parsed until its
response has been written to the socket (or the write failed); injected delays count as in flight.
Faults are drawn per request from a seeded RNG: HTTP 500, HTTP 429 with Retry-After, or a slow
answer (a pause, then the normal response). Paths in `malformed` answer 200 with a broken feed.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

from tests.support.site_server import SiteServer, _Handler

MALFORMED_BODY = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>broken'


@dataclass(frozen=True)
class FaultMix:
    """Share of requests answered with each fault (the rest are served normally)."""

    status_500: float = 0.07
    status_429: float = 0.05
    slow: float = 0.08
    retry_after_s: int = 20
    slow_s: tuple[float, float] = (1.0, 4.0)

    @property
    def total(self) -> float:
        return self.status_500 + self.status_429 + self.slow


class SoakSite(SiteServer):
    """A SiteServer bound to one host IP that measures concurrency and spacing and injects faults."""

    def __init__(self, root: Path, host: str, mix: FaultMix, seed: int) -> None:
        super().__init__(root, host=host)
        self.mix = mix
        self.faults_enabled = True
        self.malformed: set[str] = set()
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self.drawn = 0  # requests seen while faults were enabled
        self.in_flight = 0
        self.max_in_flight = 0
        self.starts: list[float] = []
        self._gauge = threading.Lock()
        self._rng = random.Random(seed)

    def __enter__(self) -> SoakSite:
        super().__enter__()
        assert self._server is not None
        self._server.RequestHandlerClass = _SoakHandler
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        super().__exit__(exc_type, exc, tb)

    def enter(self) -> None:
        """A request started: raise the gauge and record the start time."""
        with self._gauge:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.starts.append(time.monotonic())

    def leave(self) -> None:
        with self._gauge:
            self.in_flight -= 1

    def draw(self, path: str) -> tuple[str, float]:
        """The fault for this request: (kind, parameter); kind "" means serve normally."""
        with self._gauge:
            if not self.faults_enabled:
                return "", 0.0
            self.drawn += 1
            if path in self.malformed:
                self.injected["malformed"] += 1
                return "malformed", 0.0
            x = self._rng.random()
            mix = self.mix
            if x < mix.status_500:
                kind, arg = "500", 0.0
            elif x < mix.status_500 + mix.status_429:
                kind, arg = "429", float(mix.retry_after_s)
            elif x < mix.total:
                kind, arg = "slow", self._rng.uniform(*mix.slow_s)
            else:
                return "", 0.0
            self.injected[kind] += 1
            return kind, arg

    def pause(self, seconds: float) -> None:
        """Sleep, cut short when the server stops."""
        self._stopping.wait(seconds)

    def min_gap_s(self) -> float | None:
        """Smallest gap between two consecutive request starts on this host."""
        with self._gauge:
            starts = sorted(self.starts)
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        return min(gaps) if gaps else None

    def gaps_below(self, seconds: float) -> int:
        """How many consecutive request starts were closer than `seconds`."""
        with self._gauge:
            starts = sorted(self.starts)
        return sum(1 for a, b in zip(starts, starts[1:], strict=False) if b - a < seconds)


class _SoakHandler(_Handler):
    def _respond(self, *, count: bool) -> None:
        site = self.server.site
        assert isinstance(site, SoakSite)
        site.enter()
        try:
            kind, arg = site.draw(unquote(urlsplit(self.path).path) or "/")
            if kind == "slow":
                site.pause(arg)
            if kind in ("", "slow"):
                super()._respond(count=count)
                return
            if kind == "malformed":
                self._send(200, MALFORMED_BODY, {"Content-Type": "application/rss+xml"})
            elif kind == "429":
                self._send(429, b"slow down\n", {"Content-Type": "text/plain", "Retry-After": f"{arg:g}"})
            else:
                self._send(500, b"injected failure\n", {"Content-Type": "text/plain"})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            site.leave()
