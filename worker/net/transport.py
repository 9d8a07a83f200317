"""An httpx transport over two httpcore pools that use the guarded network backend.

Each distinct address policy (public only, a feed's ``allow_hosts``, ``allow_private``) has its own
pool, so a keep-alive connection to an internal host can never be reused by a fetch that is not
allowed to reach it.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import httpcore
import httpx

from worker.net.allow import NO_HOSTS, HostAllowlist
from worker.net.backend import DeadlineClock, DnsLookups, GuardedBackend, Resolver

POLICY_EXTENSION = "newswatch.address_policy"  # value: (allow_private, HostAllowlist)
PoolKey = tuple[bool, HostAllowlist]

# Most specific first: the first match wins.
_ERROR_MAP: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _ERROR_MAP:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _mapped_errors():
            yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class GuardedTransport(httpx.BaseTransport):
    """httpx transport whose TCP connections are made only to vetted, pinned addresses.

    The request extension ``POLICY_EXTENSION`` selects the pool of that address policy.
    """

    def __init__(
        self,
        *,
        resolver: Resolver,
        clock: DeadlineClock,
        ssl_context: ssl.SSLContext,
        max_connections: int = 20,
        keepalive_expiry: float = 30.0,
    ) -> None:
        self._ssl_context, self._max_connections = ssl_context, max_connections
        self._keepalive_expiry = keepalive_expiry
        self._lookups = DnsLookups(resolver)
        self._clock = clock
        self._pools: dict[PoolKey, httpcore.ConnectionPool] = {}
        self._lock = threading.Lock()

    def _pool(self, key: PoolKey) -> httpcore.ConnectionPool:
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                allow_private, allow_hosts = key
                pool = self._pools[key] = httpcore.ConnectionPool(
                    ssl_context=self._ssl_context,
                    max_connections=self._max_connections,
                    max_keepalive_connections=self._max_connections,
                    keepalive_expiry=self._keepalive_expiry,
                    network_backend=GuardedBackend(
                        resolver=self._lookups,
                        clock=self._clock,
                        allow_private=allow_private,
                        allow_hosts=allow_hosts,
                    ),
                )
            return pool

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        key = request.extensions.get(POLICY_EXTENSION, (False, NO_HOSTS))
        pool = self._pool((bool(key[0]), key[1]))
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _mapped_errors():
            response = pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.close()
