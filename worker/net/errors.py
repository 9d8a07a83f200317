"""Fetch failures with a readable reason and a retry classification."""

from __future__ import annotations

import email.utils
import time
from http import HTTPStatus

MAX_RETRY_AFTER_S = 86400.0


class FetchError(Exception):
    """A fetch that did not produce a usable response.

    ``reason`` names the cause in plain words, ``transient`` says whether retrying later can help
    (network errors, timeouts, 408/429/5xx), ``status`` is the HTTP status when one was received and
    ``retry_after`` the server's Retry-After in seconds (429/503 only, capped at 24 h).
    """

    def __init__(
        self,
        reason: str,
        *,
        transient: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.status = status
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments would otherwise break pickling (Celery result/exception transport).
        return (_rebuild, (self.reason, self.transient, self.status, self.retry_after))

    def __repr__(self) -> str:
        return (
            f"FetchError({self.reason!r}, transient={self.transient}, status={self.status}, "
            f"retry_after={self.retry_after})"
        )


def _rebuild(reason: str, transient: bool, status: int | None, retry_after: float | None) -> FetchError:
    return FetchError(reason, transient=transient, status=status, retry_after=retry_after)


def status_phrase(status: int) -> str:
    """``"HTTP 404 Not Found"``; the server's own reason phrase is untrusted text and is not used."""
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), capped at 24 h.

    Returns None when the value is missing or unparseable; a date in the past gives 0.0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return min(max(when.timestamp() - current, 0.0), MAX_RETRY_AFTER_S)


def error_for_status(status: int, retry_after_header: str | None) -> FetchError:
    """Classify a non-success status: 408/429/5xx are transient, other 4xx and 3xx permanent."""
    transient = status in (408, 429) or 500 <= status <= 599
    retry_after = parse_retry_after(retry_after_header) if status in (429, 503) else None
    return FetchError(status_phrase(status), transient=transient, status=status, retry_after=retry_after)
