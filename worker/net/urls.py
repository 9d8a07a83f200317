"""Static URL hygiene, done with the same parser (httpx.URL) that later connects."""

from __future__ import annotations

import re

import httpx

from worker.net.errors import FetchError

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = frozenset({"http", "https"})
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


def _describe_bad_char(url: str) -> str:
    match = _BAD_CHARS.search(url)
    char = match.group(0) if match else "?"
    if char == "\\":
        return "backslash in URL"
    if char == " ":
        return "whitespace in URL"
    return f"control character {char!r} in URL"


def check_url(url: str) -> str:
    """Return the normalised form of ``url`` or raise FetchError (permanent).

    Refuses: schemes other than http/https, backslashes, whitespace or C0/DEL characters anywhere,
    userinfo (``user@host``), a missing host, and more than 2048 characters. Normalisation is httpx's:
    lower-case scheme and host, IDNA host, percent-encoding of unsafe path/query characters.
    """
    if len(url) > MAX_URL_LENGTH:
        raise FetchError(f"URL too long ({len(url)} > {MAX_URL_LENGTH} characters)", transient=False)
    if _BAD_CHARS.search(url):
        raise FetchError(f"invalid URL: {_describe_bad_char(url)}", transient=False)
    scheme_match = _SCHEME.match(url)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme if scheme else "(none)"
        raise FetchError(f"unsupported scheme {shown!r}", transient=False)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise FetchError(f"invalid URL: {str(exc)[:200]}", transient=False) from None
    if parsed.userinfo:
        raise FetchError("invalid URL: userinfo (user@host) is not allowed", transient=False)
    if not parsed.host:
        raise FetchError("invalid URL: no host", transient=False)
    normalised = str(parsed)
    if len(normalised) > MAX_URL_LENGTH:
        raise FetchError(f"URL too long ({len(normalised)} > {MAX_URL_LENGTH} characters)", transient=False)
    return normalised


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """(scheme, host, effective port) — two URLs are same-origin iff these are equal."""
    port = url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, port)


def check_url_chars(url: str) -> None:
    """Raise FetchError if ``url`` (e.g. a raw Location value) has backslashes, whitespace or controls."""
    if _BAD_CHARS.search(url):
        raise FetchError(f"invalid URL: {_describe_bad_char(url)}", transient=False)
    if len(url) > MAX_URL_LENGTH:
        raise FetchError(f"URL too long ({len(url)} > {MAX_URL_LENGTH} characters)", transient=False)
