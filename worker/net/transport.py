"""Keep-alive httpcore pools, one per (address policy, origin), over the guarded network backend.

Each distinct address policy (public only, a feed's ``allow_hosts``, ``allow_private``) has pools of
its own, so a keep-alive connection to an internal host can never be reused by a fetch that is not
allowed to reach it. Within a policy every origin (scheme, host, port) has its own small pool:
httpcore's pool scans all of its connections on every request, so one pool for hundreds of hosts
would either cost a long scan per request or, capped, evict and re-open connections all the time.

Contracts:
- `GuardedTransport.request` sends one request and returns the httpcore response, its body not yet
  read; the caller must `close()` its stream (a fully read, closed response returns the connection
  to the pool). Errors are httpcore's exceptions, or the FetchError the backend raised (blocked).
- At most `max_keepalive` idle connections are kept per origin (the default per-host politeness
  has 2 requests in flight), each for `keepalive_expiry` seconds; at most `max_pools` origins keep
  pools: beyond that, and every `keepalive_expiry` seconds, pools with no request in flight that
  were used least recently (or not for `keepalive_expiry`) are closed. So a process holds at most
  about max_pools x max_keepalive idle sockets (1,024 by default).
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import httpcore

from worker.net.allow import HostAllowlist
from worker.net.backend import DeadlineClock, DnsLookups, GuardedBackend, Resolver

PoolKey = tuple[bool, HostAllowlist]  # (allow_private, allow_hosts)
OriginKey = tuple[bytes, bytes, int | None]  # (scheme, host, port) as httpcore.URL has them
Timeouts = dict[str, float]  # httpcore's "timeout" extension: connect, read, write, pool


@dataclass
class _Entry:
    pool: httpcore.ConnectionPool
    in_flight: int = 0
    used_at: float = field(default_factory=time.monotonic)


class _Released(Iterable[bytes]):
    """The response stream; closing it (once) counts its request as done in its pool's entry."""

    def __init__(self, inner: Iterable[bytes], transport: GuardedTransport, entry: _Entry) -> None:
        self._inner, self._transport, self._entry, self._closed = inner, transport, entry, False

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._transport._finished(self._entry)


class GuardedTransport:
    """httpcore pools whose TCP connections are made only to vetted, pinned addresses."""

    def __init__(
        self,
        *,
        resolver: Resolver,
        clock: DeadlineClock,
        ssl_context: ssl.SSLContext,
        max_keepalive: int = 2,
        keepalive_expiry: float = 30.0,
        max_pools: int = 512,
    ) -> None:
        self._ssl_context, self._max_keepalive = ssl_context, max_keepalive
        self._keepalive_expiry, self._max_pools = keepalive_expiry, max_pools
        self._lookups = DnsLookups(resolver)
        self._clock = clock
        self._backends: dict[PoolKey, GuardedBackend] = {}
        self._pools: OrderedDict[tuple[PoolKey, OriginKey], _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._swept_at = time.monotonic()

    def request(
        self,
        policy: PoolKey,
        url: httpcore.URL,
        headers: list[tuple[bytes, bytes]],
        timeouts: Timeouts,
    ) -> httpcore.Response:
        """GET `url` with exactly `headers` on a connection of `policy`'s pool for its origin."""
        entry = self._checkout(policy, (url.scheme, url.host, url.port))
        try:
            response = entry.pool.handle_request(
                httpcore.Request("GET", url, headers=headers, extensions={"timeout": timeouts})
            )
        except BaseException:
            self._finished(entry)
            raise
        assert isinstance(response.stream, Iterable)
        response.stream = _Released(response.stream, self, entry)
        return response

    @property
    def pool_count(self) -> int:
        """How many origins have a pool now."""
        with self._lock:
            return len(self._pools)

    def close(self) -> None:
        """Close every pool (and its connections)."""
        with self._lock:
            entries = list(self._pools.values())
            self._pools.clear()
        for entry in entries:
            entry.pool.close()

    def _checkout(self, policy: PoolKey, origin: OriginKey) -> _Entry:
        closing: list[_Entry] = []
        with self._lock:
            key = (policy, origin)
            entry = self._pools.get(key)
            if entry is None:
                entry = self._pools[key] = _Entry(self._new_pool(policy))
            else:
                self._pools.move_to_end(key)
            entry.in_flight += 1
            entry.used_at = now = time.monotonic()
            if len(self._pools) > self._max_pools or now - self._swept_at > self._keepalive_expiry:
                closing = self._evict(now)
        for old in closing:
            old.pool.close()
        return entry

    def _finished(self, entry: _Entry) -> None:
        with self._lock:
            entry.in_flight -= 1
            entry.used_at = time.monotonic()

    def _evict(self, now: float) -> list[_Entry]:
        """(Under the lock.) Drop idle pools: unused for `keepalive_expiry` (their connections
        have expired), and the least recently used beyond `max_pools`."""
        self._swept_at = now
        excess = len(self._pools) - self._max_pools
        dropped: list[_Entry] = []
        for key, entry in list(self._pools.items()):  # least recently used first
            if entry.in_flight:
                continue
            if excess > 0 or now - entry.used_at > self._keepalive_expiry:
                del self._pools[key]
                dropped.append(entry)
                excess -= 1
        return dropped

    def _new_pool(self, policy: PoolKey) -> httpcore.ConnectionPool:
        backend = self._backends.get(policy)
        if backend is None:
            allow_private, allow_hosts = policy
            backend = self._backends[policy] = GuardedBackend(
                resolver=self._lookups,
                clock=self._clock,
                allow_private=allow_private,
                allow_hosts=allow_hosts,
            )
        return httpcore.ConnectionPool(
            ssl_context=self._ssl_context,
            max_connections=None,  # the per-host politeness slots bound the requests in flight
            max_keepalive_connections=self._max_keepalive,
            keepalive_expiry=self._keepalive_expiry,
            network_backend=backend,
        )
