"""Fixtures for the fetch tests: loopback servers, a fetcher, and a spy on socket connects."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.net.servers import Handler, ScriptServer, serve
from worker.net import Fetcher, FetchLimits

USER_AGENT = "newswatch-tests/0.1 (+https://example.invalid/newswatch)"


@pytest.fixture
def make_server() -> Iterator[Callable[..., ScriptServer]]:
    started: list[ScriptServer] = []

    def factory(routes: dict[str, Handler], **kwargs: Any) -> ScriptServer:
        server = serve(routes, **kwargs)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.close()


@pytest.fixture
def make_fetcher() -> Iterator[Callable[..., Fetcher]]:
    made: list[Fetcher] = []

    def factory(limits: FetchLimits | None = None, **kwargs: Any) -> Fetcher:
        fetcher = Fetcher(user_agent=USER_AGENT, limits=limits or FetchLimits(deadline_s=5.0), **kwargs)
        made.append(fetcher)
        return fetcher

    yield factory
    for fetcher in made:
        fetcher.close()


def _loopback(host: str) -> bool:
    try:
        addr = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


@pytest.fixture(autouse=True)
def connects() -> Iterator[list[Any]]:
    """Loopback-only network guard for every test here; yields each address passed to connect()."""
    seen: list[Any] = []
    real = socket.socket.connect

    def guarded(sock: socket.socket, address: Any) -> None:
        seen.append(address)
        if isinstance(address, tuple) and not _loopback(str(address[0])):
            raise AssertionError(f"test tried to connect to non-loopback address {address!r}")
        real(sock, address)

    socket.socket.connect = guarded  # type: ignore[method-assign,assignment]
    try:
        yield seen
    finally:
        socket.socket.connect = real  # type: ignore[method-assign]
