"""What the provider answered behind Apprise: each HTTP exchange's status, Retry-After or error.

Apprise reports a failed send only as log text: response headers and the exception behind a
connection failure never reach the caller, so a provider's "429, Retry-After: 120" would be retried
on our own backoff, and a refused connection could only be told apart from a timeout by parsing
plugin log lines. Apprise has no public hook for either. Every Apprise HTTP plugin sends through
`requests.Session.send` (also `requests.post`, which opens a Session), so a thin wrapper installed
once notes each exchange inside `recorded_responses()`. The list lives in a context variable, which
Apprise copies into the pool threads that run its plugins; outside that block the wrapper only
passes the call through.

This is the one place that reaches behind Apprise's public API; tests/alerts/test_internals.py
fails with the library versions named when an Apprise or requests release stops going through it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import requests

from worker.net.errors import parse_retry_after

_RATE_LIMIT_CODES = (429, 503)


@dataclass(frozen=True)
class Exchange:
    """One HTTP request a plugin made: the status and Retry-After header of its response, or the
    requests exception it ended with (`error_kind` is the exception class name)."""

    status: int | None
    retry_after: str | None = None
    error_kind: str | None = None
    error: str | None = None

    @property
    def timed_out(self) -> bool:
        """The request ended in a connect or read timeout."""
        return self.error_kind is not None and "Timeout" in self.error_kind


_seen: ContextVar[list[Exchange] | None] = ContextVar("newswatch_responses", default=None)
_install_lock = threading.Lock()


def _install() -> None:
    """Wrap `requests.Session.send` once per process."""
    with _install_lock:
        original = requests.Session.send
        if getattr(original, "_newswatch_recorder", False):
            return

        def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
            seen = _seen.get()
            if seen is None:
                return original(self, request, **kwargs)
            try:
                response = original(self, request, **kwargs)
            except requests.RequestException as exc:
                seen.append(Exchange(None, error_kind=type(exc).__name__, error=str(exc)[:300]))
                raise
            seen.append(Exchange(response.status_code, response.headers.get("Retry-After")))
            return response

        send._newswatch_recorder = True  # type: ignore[attr-defined]
        requests.Session.send = send  # type: ignore[method-assign]


@contextmanager
def recorded_responses() -> Iterator[list[Exchange]]:
    """Collect every HTTP exchange made in the block, by this thread or by the threads it hands
    the work to with its context."""
    _install()
    seen: list[Exchange] = []
    token = _seen.set(seen)
    try:
        yield seen
    finally:
        _seen.reset(token)


def retry_after(seen: list[Exchange]) -> float | None:
    """Seconds the provider asked us to wait (last 429/503 answer with a usable Retry-After)."""
    for exchange in reversed(seen):
        if exchange.status in _RATE_LIMIT_CODES:
            return parse_retry_after(exchange.retry_after)
    return None
