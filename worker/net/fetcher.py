"""The fetch stage: one long-lived httpx.Client, manual redirects, decoded-size caps, a total deadline."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx

from worker.net.backend import DeadlineClock, Resolver, system_resolver
from worker.net.decode import BodyDecoder, parse_encodings
from worker.net.errors import FetchError, error_for_status, status_phrase
from worker.net.models import Fetched, FetchLimits, FetchPolicy, NotModified, split_content_type
from worker.net.transport import POLICY_EXTENSION, GuardedTransport
from worker.net.urls import check_url, check_url_chars, origin

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
_MAX_VALIDATOR_LENGTH = 1024
_LOCATION = "x-newswatch-location"
# Media types that are never a feed or a web page: refused on the headers, before the body is read.
_BINARY_MEDIA_PREFIXES = ("image/", "audio/", "video/", "font/", "model/")
_BINARY_MEDIA_TYPES = frozenset(
    {"application/pdf", "application/zip", "application/gzip", "application/x-tar", "application/wasm"}
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


def _hide_location(response: httpx.Response) -> None:
    # httpx pre-builds next_request from Location even with follow_redirects=False and raises InvalidURL
    # on hostile values; redirects are ours to parse and vet, so Location is moved out of its sight.
    location = response.headers.pop("location", None)
    if location is not None:
        response.headers[_LOCATION] = location


def _without_credentials(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() not in CREDENTIAL_HEADERS}


def _too_large(limit: int) -> FetchError:
    return FetchError(f"response too large (> {limit} bytes)", transient=False)


def _declared_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "").strip()
    return int(value) if value.isdigit() else None


class Fetcher:
    """One per worker process; wraps ONE long-lived httpx.Client (keep-alive).

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
        self._client = httpx.Client(
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # env proxies would route around the guarded transport
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),  # never store cookies
            headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
            event_hooks={"response": [_hide_location]},
        )

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
        self._client.close()

    def _fetch(
        self,
        url: str,
        policy: FetchPolicy,
        headers: Mapping[str, str],
        limit: int,
        sent: tuple[str | None, str | None],
        pace: Pace | None = None,
    ) -> Fetched | NotModified:
        current = httpx.URL(check_url(url))
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

    def _send(self, url: httpx.URL, headers: Mapping[str, str], policy: FetchPolicy) -> httpx.Response:
        left = self._clock.bound(None)
        assert left is not None
        read = min(self._limits.read_timeout_s, left)
        connect = min(self._limits.connect_timeout_s, left)
        request = self._client.build_request(
            "GET",
            url,
            headers=headers,
            timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=connect),
            extensions={POLICY_EXTENSION: (policy.allow_private, policy.allow_hosts)},
        )
        try:
            return self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None

    def _transport_error(self, exc: httpx.HTTPError) -> FetchError:
        if self._clock.expired():
            return self._clock.exceeded()
        if isinstance(exc, httpx.ConnectTimeout):
            return FetchError(f"connect timeout ({self._limits.connect_timeout_s:g} s)", transient=True)
        if isinstance(exc, httpx.TimeoutException):
            return FetchError(f"read timeout ({self._limits.read_timeout_s:g} s)", transient=True)
        if isinstance(exc, httpx.ConnectError):
            return FetchError(f"connection failed: {str(exc)[:200]}", transient=True)
        if isinstance(exc, httpx.ProtocolError):
            return FetchError(f"HTTP protocol error: {str(exc)[:200]}", transient=True)
        return FetchError(f"network error: {type(exc).__name__}: {str(exc)[:200]}", transient=True)

    def _redirect_target(self, response: httpx.Response, current: httpx.URL) -> httpx.URL | None:
        if response.status_code not in REDIRECT_STATUSES:
            return None
        location = response.headers.get(_LOCATION)
        if not location:
            raise FetchError(f"{status_phrase(response.status_code)} without Location", transient=False)
        check_url_chars(location)
        try:
            joined = str(current.join(location))
        except (httpx.InvalidURL, ValueError) as exc:
            raise FetchError(f"invalid redirect URL: {str(exc)[:200]}", transient=False) from None
        target = httpx.URL(check_url(joined))
        if current.scheme == "https" and target.scheme == "http":
            raise FetchError("redirect from https to http refused", transient=False)
        return target

    def _finish(
        self, response: httpx.Response, url: httpx.URL, limit: int, sent: tuple[str | None, str | None]
    ) -> Fetched | NotModified:
        status = response.status_code
        etag = response.headers.get("etag")
        modified = response.headers.get("last-modified")
        if status == 304:
            # a 304 never has a body (RFC 9110), so this reads nothing; it lets h11 see the message's
            # end, and without it httpcore closes the connection instead of keeping it alive
            response.read()
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
            headers={name.lower(): value for name, value in response.headers.items()},
            content_type=content_type,
            charset=charset,
            etag=etag,
            last_modified=modified,
        )

    def _read_body(self, response: httpx.Response, limit: int) -> bytes:
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
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from None
        return bytes(body)
