"""Value types of the fetch stage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from worker.net.allow import NO_HOSTS, HostAllowlist


@dataclass(frozen=True)
class FetchPolicy:
    """Per-fetch permissions. ``allow_hosts`` is a feed's scoped allow for intentional internal
    hosts; ``allow_private`` (every private address) is for internal callers only, never set
    from a feed's configuration."""

    allow_private: bool = False
    max_redirects: int = 5
    allow_hosts: HostAllowlist = NO_HOSTS


@dataclass(frozen=True)
class FetchLimits:
    """Per-fetch budgets; ``deadline_s`` bounds the whole fetch whatever the per-phase timeouts."""

    deadline_s: float = 30.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    max_bytes: int = 5 * 1024 * 1024


@dataclass(frozen=True)
class Fetched:
    """A 2xx response. ``body`` is decoded (Content-Encoding removed) and at most the byte cap;
    ``headers`` has lower-case names (treat it as read-only); validators are verbatim, quotes kept."""

    url: str
    status: int
    body: bytes
    headers: Mapping[str, str]
    content_type: str | None
    charset: str | None
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True)
class NotModified:
    """A 304: the server's validators, or the ones we sent when it did not repeat them."""

    url: str
    etag: str | None
    last_modified: str | None


def split_content_type(value: str | None) -> tuple[str | None, str | None]:
    """(media type lower-cased without parameters, charset lower-cased) from a Content-Type value."""
    if not value:
        return None, None
    media, *params = value.split(";")
    charset = None
    for param in params:
        name, _, raw = param.partition("=")
        if name.strip().lower() == "charset":
            charset = raw.strip().strip("\"'").lower() or None
    return media.strip().lower() or None, charset
