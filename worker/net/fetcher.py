"""The fetch stage: keep-alive httpcore pools, manual redirects, decoded-size caps, a total deadline.

Requests go to httpcore directly (no httpx.Client): a feed poll is one conditional GET, and the
client's cookie jar, event hooks, auth and redirect machinery, none of which newswatch uses, were
most of its CPU. httpx.URL still parses, normalises and joins every URL (`worker.net.urls`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Protocol

import httpcore
import httpx

from worker.net.backend import DeadlineClock, Resolver, system_resolver
from worker.net.decode import BodyDecoder, parse_encodings
from worker.net.errors import FetchError, error_for_status, status_phrase
from worker.net.models import Fetched, FetchLimits, FetchPolicy, NotModified, split_content_type
from worker.net.transport import GuardedTransport
from worker.net.urls import check_url, check_url_chars, origin

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
_MAX_VALIDATOR_LENGTH = 1024
# Media types that are never a feed or a web page: refused on the headers, before the body is read.
_BINARY_MEDIA_PREFIXES = ("image/", "audio/", "video/", "font/", "model/")
_BINARY_MEDIA_TYPES = frozenset(
    {"application/pdf", "application/zip", "application/gzip", "application/x-tar", "application/wasm"}
)
# httpcore's failures (the backend's own FetchError, e.g. a blocked address, passes through as is)
_TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)
DEFAULT_LIMITS = FetchLimits()
DEFAULT_POLICY = FetchPolicy()
# Politeness per contacted host: a context held around each request (each redirect hop) to that host.
Pace = Callable[[str], AbstractContextManager[object]]


def _sendable(value: str | None) -> bool:
    # A stored validator with CR/LF or non-ASCII would make every later request fail locally.
    return bool(value) and value is not None and len(value) <= _MAX_VALIDATOR_LENGTH and (
        value.isascii() and value.isprintable()
    )


@functools.lru_cache(maxsize=4096)
def _checked(url: str) -> httpx.URL:
    # a feed's URL is the same every poll: vet and parse it once (a bad one raises, never cached)
    return httpx.URL(check_url(url))


class _Head(Protocol):
    """What redirect handling reads of a response (case-insensitive or lower-case header names)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class _Response:
    """An httpcore response with its headers decoded as httpx decodes them: names lower-cased,
    repeated headers joined with ", ", ASCII else UTF-8 else ISO-8859-1."""

    def __init__(self, raw: httpcore.Response) -> None:
        self.status_code = raw.status
        self.stream = raw.stream
        pairs = raw.headers
        encoding = "iso-8859-1"
        for candidate in ("ascii", "utf-8"):
            try:
                for name, value in pairs:
                    name.decode(candidate), value.decode(candidate)
            except UnicodeDecodeError:
                continue
            encoding = candidate
            break
        headers: dict[str, str] = {}
        for name, value in pairs:
            key, text = name.decode(encoding).lower(), value.decode(encoding)
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.headers = headers

    def iter_raw(self) -> Iterable[bytes]:
        assert isinstance(self.stream, Iterable)
        return self.stream

    def close(self) -> None:
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()


def _without_credentials(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() not in CREDENTIAL_HEADERS}


def _too_large(limit: int) -> FetchError:
    return FetchError(f"response too large (> {limit} bytes)", transient=False)


def _declared_length(response: _Response) -> int | None:
    value = response.headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


class Fetcher:
    """One per worker process; its keep-alive connections are pooled per address policy and origin.

    ``get`` fetches a URL under a FetchPolicy: every hop's URL passes ``check_url``, every connection is
    made to resolved addresses that pass the address policy (pinned, so no DNS rebinding), redirects are
    followed manually (at most ``policy.max_redirects``, no https→http, credentials dropped cross-origin),
    the decoded body is capped, and the whole fetch is bounded by ``limits.deadline_s``. Returns Fetched
    for 2xx, NotModified for 304, and raises FetchError for everything else.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        limits: FetchLimits = DEFAULT_LIMITS,
        resolver: Resolver | None = None,
    ) -> None:
        self._limits = limits
        self._clock = DeadlineClock()
        transport = GuardedTransport(
            resolver=resolver or system_resolver,
            clock=self._clock,
            ssl_context=httpx.create_ssl_context(trust_env=False),
        )
        # No proxies from the environment (they would route around the guarded backend) and no
        # cookie jar: cookies are never stored or sent.
        self._transport = transport
        self._user_agent = user_agent.encode("ascii")

    def get(
        self,
        url: str,
        *,
        policy: FetchPolicy = DEFAULT_POLICY,
        etag: str | None = None,
        last_modified: str | None = None,
        max_bytes: int | None = None,
        accept: str | None = None,
        pace: Pace | None = None,
    ) -> Fetched | NotModified:
        """Fetch ``url``; see the class docstring. Validators are sent verbatim when given.
        ``pace(host)``, when given, is entered around every request to ``host`` (redirect hops
        included) and sees the FetchError of that request."""
        headers: dict[str, str] = {}
        if etag is not None and _sendable(etag):
            headers["If-None-Match"] = etag
        if last_modified is not None and _sendable(last_modified):
            headers["If-Modified-Since"] = last_modified
        if accept:
            headers["Accept"] = accept
        limit = self._limits.max_bytes if max_bytes is None else max_bytes
        return self._fetch(url, policy, headers, limit, (etag, last_modified), pace)

    def close(self) -> None:
        """Close the pooled connections; the Fetcher must not be used afterwards."""
        self._transport.close()

    def _fetch(
        self,
        url: str,
        policy: FetchPolicy,
        headers: Mapping[str, str],
        limit: int,
        sent: tuple[str | None, str | None],
        pace: Pace | None = None,
    ) -> Fetched | NotModified:
        current = _checked(url)
        hop_headers = dict(headers)
        with self._clock.running(self._limits.deadline_s):
            for hop in range(policy.max_redirects + 1):
                with pace(current.host) if pace is not None else nullcontext():
                    response = self._send(current, hop_headers, policy)
                    try:
                        target = self._redirect_target(response, current)
                        if target is None:
                            return self._finish(response, current, limit, sent)
                    finally:
                        response.close()
                if hop == policy.max_redirects:
                    break
                if origin(target) != origin(current):
                    hop_headers = _without_credentials(hop_headers)
                current = target
        raise FetchError(f"too many redirects (> {policy.max_redirects})", transient=False)

    def _send(self, url: httpx.URL, headers: Mapping[str, str], policy: FetchPolicy) -> _Response:
        left = self._clock.bound(None)
        assert left is not None
        read = min(self._limits.read_timeout_s, left)
        connect = min(self._limits.connect_timeout_s, left)
        # httpx's header order and defaults: Host, Accept, Accept-Encoding, Connection, User-Agent
        wire = [
            (b"Host", url.netloc),
            (b"Accept", headers.get("Accept", "*/*").encode("ascii")),
            (b"Accept-Encoding", b"gzip, deflate"),
            (b"Connection", b"keep-alive"),
            (b"User-Agent", self._user_agent),
        ]
        wire += [(k.encode("ascii"), v.encode("ascii")) for k, v in headers.items() if k != "Accept"]
        target = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)
        timeouts = {"connect": connect, "read": read, "write": read, "pool": connect}
        try:
            raw = self._transport.request((policy.allow_private, policy.allow_hosts), target, wire, timeouts)
        except _TRANSPORT_ERRORS as exc:
            raise self._transport_error(exc) from None
        try:
            return _Response(raw)
        except BaseException:
            raw.close()
            raise

    def _transport_error(self, exc: Exception) -> FetchError:
        if self._clock.expired():
            return self._clock.exceeded()
        if isinstance(exc, httpcore.ConnectTimeout):
            return FetchError(f"connect timeout ({self._limits.connect_timeout_s:g} s)", transient=True)
        if isinstance(exc, httpcore.TimeoutException):
            return FetchError(f"read timeout ({self._limits.read_timeout_s:g} s)", transient=True)
        if isinstance(exc, httpcore.ConnectError):
            return FetchError(f"connection failed: {str(exc)[:200]}", transient=True)
        if isinstance(exc, httpcore.ProtocolError):
            return FetchError(f"HTTP protocol error: {str(exc)[:200]}", transient=True)
        return FetchError(f"network error: {type(exc).__name__}: {str(exc)[:200]}", transient=True)

    def _redirect_target(self, response: _Head, current: httpx.URL) -> httpx.URL | None:
        if response.status_code not in REDIRECT_STATUSES:
            return None
        location = response.headers.get("location")
        if not location:
            raise FetchError(f"{status_phrase(response.status_code)} without Location", transient=False)
        check_url_chars(location)
        try:
            joined = str(current.join(location))
        except (httpx.InvalidURL, ValueError) as exc:
            raise FetchError(f"invalid redirect URL: {str(exc)[:200]}", transient=False) from None
        target = _checked(joined)
        if current.scheme == "https" and target.scheme == "http":
            raise FetchError("redirect from https to http refused", transient=False)
        return target

    def _finish(
        self, response: _Response, url: httpx.URL, limit: int, sent: tuple[str | None, str | None]
    ) -> Fetched | NotModified:
        status = response.status_code
        etag = response.headers.get("etag")
        modified = response.headers.get("last-modified")
        if status == 304:
            # a 304 never has a body (RFC 9110), so this reads nothing; it lets h11 see the message's
            # end, and without it httpcore closes the connection instead of keeping it alive
            try:
                for _ in response.iter_raw():
                    pass
            except _TRANSPORT_ERRORS as exc:
                raise self._transport_error(exc) from None
            return NotModified(url=str(url), etag=etag or sent[0], last_modified=modified or sent[1])
        if not 200 <= status <= 299:
            raise error_for_status(status, response.headers.get("retry-after"))
        content_type, charset = split_content_type(response.headers.get("content-type"))
        if content_type is not None and (
            content_type in _BINARY_MEDIA_TYPES or content_type.startswith(_BINARY_MEDIA_PREFIXES)
        ):
            reason = f"unsupported content type {content_type}: not a feed or a web page"
            raise FetchError(reason, transient=False)
        body = self._read_body(response, limit)
        return Fetched(
            url=str(url),
            status=status,
            body=body,
            headers=response.headers,
            content_type=content_type,
            charset=charset,
            etag=etag,
            last_modified=modified,
        )

    def _read_body(self, response: _Response, limit: int) -> bytes:
        declared = _declared_length(response)
        if declared is not None and declared > limit:
            raise _too_large(limit)
        decoder = BodyDecoder(parse_encodings(response.headers.get("content-encoding")))
        body = bytearray()
        received = 0
        try:
            for chunk in response.iter_raw():
                received += len(chunk)
                if received > limit:
                    raise _too_large(limit)
                for piece in decoder.feed(chunk):
                    if len(body) + len(piece) > limit:
                        raise _too_large(limit)
                    body += piece
                self._clock.check()
        except _TRANSPORT_ERRORS as exc:
            raise self._transport_error(exc) from None
        return bytes(body)
