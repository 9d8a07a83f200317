"""httpcore network backend that resolves once, vets every answer and connects to the vetted IP.

Every read/write/connect is also bounded by the total deadline of the fetch in progress, so neither a
server that trickles bytes nor one that never answers can hold the caller past ``deadline_s``.
DNS lookups run in threads (getaddrinfo cannot be interrupted) and at most `DnsLookups.size` of them
exist per fetcher: a feed full of links to names that never resolve cannot pile up threads.
"""

from __future__ import annotations

import queue
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore

from worker.net.addresses import parse_ip, vet_addresses
from worker.net.allow import NO_HOSTS, HostAllowlist
from worker.net.errors import FetchError

Resolver = Callable[[str, int], list[str]]
_LEGACY_V4 = re.compile(r"^[0-9a-fA-FxX.]+$")
_DEFAULT_DNS_TIMEOUT_S = 5.0
DNS_THREADS = 8  # lookups in flight per fetcher (per worker process)


def system_resolver(host: str, port: int) -> list[str]:
    """All addresses ``socket.getaddrinfo`` returns for (host, port), in order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class DeadlineClock(threading.local):
    """Total deadline of the fetch running in the current thread (None outside a fetch)."""

    deadline: float | None = None
    budget_s: float = 0.0

    @contextmanager
    def running(self, budget_s: float) -> Iterator[None]:
        """Arm the deadline for the duration of one fetch (redirects included)."""
        self.deadline, self.budget_s = time.monotonic() + budget_s, budget_s
        try:
            yield
        finally:
            self.deadline = None

    def exceeded(self) -> FetchError:
        return FetchError(f"deadline of {self.budget_s:g} s exceeded", transient=True)

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def check(self) -> None:
        """Raise the deadline FetchError once the deadline has passed."""
        left = self.remaining()
        if left is not None and left <= 0:
            raise self.exceeded()

    def bound(self, timeout: float | None) -> float | None:
        """``timeout`` shortened to the time left; raises once nothing is left."""
        left = self.remaining()
        if left is None:
            return timeout
        if left <= 0:
            raise self.exceeded()
        return left if timeout is None else min(timeout, left)

    def expired(self) -> bool:
        left = self.remaining()
        # A socket timeout sized to the remaining time fires a hair early or late; 10 ms covers it.
        return left is not None and left <= 0.01


class GuardedStream(httpcore.NetworkStream):
    """Delegating stream whose every operation is bounded by the thread's fetch deadline."""

    def __init__(self, inner: httpcore.NetworkStream, clock: DeadlineClock) -> None:
        self._inner = inner
        self._clock = clock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return self._inner.read(max_bytes, self._clock.bound(timeout))
        except httpcore.ReadTimeout:
            if self._clock.expired():
                raise self._clock.exceeded() from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        try:
            self._inner.write(buffer, self._clock.bound(timeout))
        except httpcore.WriteTimeout:
            if self._clock.expired():
                raise self._clock.exceeded() from None
            raise

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        try:
            tls = self._inner.start_tls(ssl_context, server_hostname, self._clock.bound(timeout))
        except httpcore.ConnectTimeout:
            if self._clock.expired():
                raise self._clock.exceeded() from None
            raise
        return GuardedStream(tls, self._clock)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def literal_addresses(host: str) -> list[str] | None:
    """Addresses for hosts that need no DNS: IP literals in any inet_aton spelling and localhost names."""
    addr = parse_ip(host)
    if addr is not None:
        return [str(addr)]
    if _LEGACY_V4.match(host):
        try:
            # inet_aton accepts 2130706433, 0x7f000001, 0177.0.0.1 and 127.1, exactly as the OS would.
            return [socket.inet_ntoa(socket.inet_aton(host))]
        except OSError:
            return None
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return ["127.0.0.1", "::1"]  # RFC 6761: always loopback, never sent to DNS
    return None


class DnsLookups:
    """Runs resolver calls in at most `size` threads. A lookup that outlives its caller's wait
    keeps its slot until the resolver returns, so slow names cannot multiply threads; a caller
    that finds no free slot within its wait gets a transient FetchError instead of a thread."""

    def __init__(self, resolver: Resolver, size: int = DNS_THREADS) -> None:
        self.resolver, self.size = resolver, size
        self._slots = threading.BoundedSemaphore(size)

    def resolve(self, host: str, port: int, wait: float) -> list[str]:
        """The resolver's answers for (host, port) within `wait` seconds."""
        began = time.monotonic()
        if not self._slots.acquire(timeout=max(wait, 0.0)):
            raise FetchError(
                f"DNS lookup for host {host!r} not started: {self.size} lookups still pending", transient=True
            )
        box: queue.SimpleQueue[tuple[list[str] | None, BaseException | None]] = queue.SimpleQueue()

        def lookup() -> None:
            try:
                box.put((list(self.resolver(host, port)), None))
            except BaseException as exc:  # noqa: B036 - handed to the waiting thread
                box.put((None, exc))
            finally:
                self._slots.release()

        try:
            threading.Thread(target=lookup, name=f"resolve:{host}", daemon=True).start()
        except BaseException:
            self._slots.release()
            raise
        left = max(wait - (time.monotonic() - began), 0.0)
        try:
            answers, error = box.get(timeout=left)
        except queue.Empty:
            reason = f"DNS lookup for host {host!r} timed out after {wait:g} s"
            raise FetchError(reason, transient=True) from None
        if isinstance(error, FetchError):
            raise error
        if error is not None or answers is None:
            detail = getattr(error, "strerror", None) or str(error)
            raise FetchError(f"DNS lookup failed for host {host!r}: {detail}", transient=True)
        return answers


class GuardedBackend(httpcore.NetworkBackend):
    """Resolve once, refuse if ANY answer is blocked, then connect to a vetted IP (pinned).

    TLS is layered on top by httpcore with the URL's hostname as SNI/verification name.
    """

    def __init__(
        self,
        *,
        resolver: Resolver | DnsLookups,
        clock: DeadlineClock,
        allow_private: bool,
        allow_hosts: HostAllowlist = NO_HOSTS,
    ) -> None:
        self._lookups = resolver if isinstance(resolver, DnsLookups) else DnsLookups(resolver)
        self._clock = clock
        self._allow_private = allow_private
        self._allow_hosts = allow_hosts
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        answers = literal_addresses(host)
        if answers is None:
            answers = self._resolve(host, port, self._clock.bound(timeout))
        vetted = vet_addresses(
            host, answers, allow_private=self._allow_private, allow_hosts=self._allow_hosts
        )
        failure: Exception | None = None
        for ip in vetted:
            try:
                stream = self._inner.connect_tcp(
                    ip, port, self._clock.bound(timeout), local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                if self._clock.expired():
                    raise self._clock.exceeded() from None
                failure = exc
                continue
            return GuardedStream(stream, self._clock)
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise FetchError("blocked: unix sockets are not allowed", transient=False)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        wait = _DEFAULT_DNS_TIMEOUT_S if timeout is None else timeout
        try:
            return self._lookups.resolve(host, port, wait)
        except FetchError:
            if self._clock.expired():
                raise self._clock.exceeded() from None
            raise
