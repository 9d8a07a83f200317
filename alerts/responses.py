"""Retry-After from the HTTP responses that Apprise's plugins receive.

Apprise reports a failed send only as a log line with the status code: response headers never
reach the caller, so a provider's "429, Retry-After: 120" would be retried on our own backoff,
possibly too early. Every Apprise HTTP plugin sends through `requests.Session.send`; a thin wrapper,
installed once, notes each response's status and Retry-After header inside `recorded_responses()`.
The list lives in a context variable, which Apprise copies into the pool threads that run its
plugins; outside that block the wrapper only passes the call through.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import requests

from worker.net.errors import parse_retry_after

_seen: ContextVar[list[tuple[int, str | None]] | None] = ContextVar("newswatch_responses", default=None)
_install_lock = threading.Lock()
_RATE_LIMIT_CODES = (429, 503)


def _install() -> None:
    """Wrap `requests.Session.send` once per process."""
    with _install_lock:
        original = requests.Session.send
        if getattr(original, "_newswatch_recorder", False):
            return

        def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> Any:
            response = original(self, request, **kwargs)
            seen = _seen.get()
            if seen is not None:
                seen.append((response.status_code, response.headers.get("Retry-After")))
            return response

        send._newswatch_recorder = True  # type: ignore[attr-defined]
        requests.Session.send = send  # type: ignore[method-assign]


@contextmanager
def recorded_responses() -> Iterator[list[tuple[int, str | None]]]:
    """Collect (status, Retry-After header) of every HTTP response received in the block, by this
    thread or by the threads it hands the work to with its context."""
    _install()
    seen: list[tuple[int, str | None]] = []
    token = _seen.set(seen)
    try:
        yield seen
    finally:
        _seen.reset(token)


def retry_after(seen: list[tuple[int, str | None]]) -> float | None:
    """Seconds the provider asked us to wait (last 429/503 answer with a usable Retry-After)."""
    for status, header in reversed(seen):
        if status in _RATE_LIMIT_CODES:
            return parse_retry_after(header)
    return None
