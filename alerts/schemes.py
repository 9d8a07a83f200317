"""Custom Apprise schemes `console://` and `jsonl://<path>` for local and default-config delivery.

They are registered through Apprise's own `@notify(on=...)` decorator mechanism, so a local alert takes
the same `send()` path as a production one. Registration is explicit: call `register_schemes()`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import quote, unquote

from apprise.decorators import notify
from apprise.manager_plugins import NotificationManager

CONSOLE_SCHEME = "console"
JSONL_SCHEME = "jsonl"
_JSONL_PREFIX = f"{JSONL_SCHEME}://"


def console_send(body: str, title: str, notify_type: str, *args: object, **kwargs: object) -> bool:
    """Apprise send hook for `console://`: print the title line, the body, then a blank line."""
    text = f"{title}\n{body}\n\n" if title else f"{body}\n\n"
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def jsonl_path(meta: Mapping[str, object]) -> str:
    """The file path named by a parsed `jsonl://` URL (Apprise's `meta`); '' when none was given.

    Apprise splits the path into host + fullpath and drops the slash of `jsonl:///abs`, which is why
    `normalise_url` percent-encodes the whole path into the host part before Apprise sees it.
    """
    host = meta.get("host")
    fullpath = meta.get("fullpath")
    return unquote(host if isinstance(host, str) else "") + unquote(
        fullpath if isinstance(fullpath, str) else ""
    )


def append_line(path: str, line: str) -> None:
    """Append `line` to `path` with one O_APPEND write and fsync, creating parent directories.

    A single write() on an O_APPEND descriptor lands as one unit, so concurrent writers (threads or
    processes) never interleave within a line. os.write is unbuffered; there is nothing to flush.
    """
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    data = line.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        while data:
            written = os.write(fd, data)
            data = data[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def jsonl_send(
    body: str, title: str, notify_type: str, meta: Mapping[str, object], *args: object, **kwargs: object
) -> bool:
    """Apprise send hook for `jsonl://<path>`: append {"title","body","type","time"} as one JSON line."""
    path = jsonl_path(meta)
    log = logging.getLogger("apprise")
    if not path:
        log.warning("jsonl:// destination has no file path")
        return False
    record = {
        "title": title,
        "body": body,
        "type": notify_type,
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    try:
        append_line(path, json.dumps(record, ensure_ascii=False) + "\n")
    except OSError as exc:
        # Logged on the apprise logger so the failure reason lands in the AppriseResult logs.
        cause = exc.strerror or type(exc).__name__
        where = f" ({exc.filename})" if exc.filename and exc.filename != path else ""
        log.warning("jsonl:// append to %s failed: %s%s", path, cause, where)
        return False
    return True


_SCHEMES: tuple[tuple[str, str, Callable[..., bool]], ...] = (
    (CONSOLE_SCHEME, "newswatch console", console_send),
    (JSONL_SCHEME, "newswatch JSON lines file", jsonl_send),
)


def register_schemes() -> None:
    """Register `console://` and `jsonl://` with Apprise. Idempotent; safe to call before every send."""
    manager = NotificationManager()  # type: ignore[no-untyped-call]
    for scheme, name, func in _SCHEMES:
        if scheme not in manager:
            notify(on=scheme, name=name)(func)  # type: ignore[no-untyped-call]


def normalise_url(url: str) -> str:
    """Rewrite a `jsonl://` URL so Apprise keeps its path intact; any other URL is returned unchanged.

    `jsonl://rel/out.jsonl` (relative to the working directory) and `jsonl:///abs/out.jsonl` become
    `jsonl://<percent-encoded path>`; a query string is kept.
    """
    if not url.lower().startswith(_JSONL_PREFIX):
        return url
    location, sep, query = url[len(_JSONL_PREFIX) :].partition("?")
    return _JSONL_PREFIX + quote(unquote(location), safe="") + sep + query
