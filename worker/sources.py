"""Read a feed or a page from where it lives: over HTTP(S) through the hardened fetcher, or from a
local fixture directory for feeds configured with `path:`.

Local reads are confined: a feed file may only lead to pages inside its own directory tree, so a
hostile `<link>file:///etc/passwd</link>` in a local feed is refused like any blocked URL.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from worker.config import FeedSpec, FetchSpec
from worker.net import Fetched, Fetcher, FetchError, FetchPolicy, NotModified
from worker.net.allow import NO_HOSTS
from worker.net.fetcher import Pace

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8, */*;q=0.1"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"


def read_source(
    fetcher: Fetcher,
    url: str,
    *,
    feed: FeedSpec | None,
    fetch: FetchSpec,
    max_bytes: int,
    accept: str,
    etag: str | None = None,
    last_modified: str | None = None,
    pace: Pace | None = None,
) -> Fetched | NotModified:
    """Fetch `url` (the feed itself or one of its links) under `feed`'s network policy (public
    addresses, plus the feed's `allow_hosts` — the same for the feed, its links and every
    redirect; `pace` is the per-host politeness, entered for each host contacted); `file:`
    URLs are read from disk only below the directory of a local `feed` file.

    Raises `FetchError` with a readable reason (transient or permanent) on any failure.
    """
    if url.startswith("file:"):
        root = Path(str(feed.path)).resolve().parent if feed is not None and feed.path is not None else None
        return _read_local(url, root, max_bytes)
    policy = FetchPolicy(
        max_redirects=fetch.max_redirects, allow_hosts=feed.allowlist if feed is not None else NO_HOSTS
    )
    return fetcher.get(
        url,
        policy=policy,
        etag=etag,
        last_modified=last_modified,
        max_bytes=max_bytes,
        accept=accept,
        pace=pace,
    )


def _read_local(url: str, root: Path | None, max_bytes: int) -> Fetched:
    path = Path(unquote(urlsplit(url).path)).resolve()
    if root is None or not path.is_relative_to(root.resolve()):
        raise FetchError(
            f"blocked: local file {path.name!r} is outside the feed's directory", transient=False
        )
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FetchError(f"response too large (> {max_bytes} bytes)", transient=False)
        body = path.read_bytes()
    except FileNotFoundError:
        raise FetchError(f"local file not found: {path}", transient=False, status=404) from None
    except OSError as exc:
        raise FetchError(f"cannot read local file {path}: {exc.strerror}", transient=True) from None
    kind = "text/html" if path.suffix in (".html", ".htm") else "application/xml"
    return Fetched(
        url=url,
        status=200,
        body=body,
        headers={"content-type": kind},
        content_type=kind,
        charset=None,
        etag=None,
        last_modified=None,
    )
