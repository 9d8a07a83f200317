"""Keep-alive pools per origin: polls of many hosts reuse one connection per host, pools of
different address policies never share one, and idle pools are closed."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable

import httpcore
import pytest

from tests.net.servers import ScriptServer, respond
from worker.net import Fetcher, FetchPolicy, NotModified
from worker.net.allow import HostAllowlist
from worker.net.backend import DeadlineClock, system_resolver
from worker.net.transport import GuardedTransport

LOCAL = FetchPolicy(allow_private=True)
pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])
ServerFactory = Callable[..., ScriptServer]
FetcherFactory = Callable[..., Fetcher]


def test_polls_of_many_hosts_keep_one_connection_per_host(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    # more hosts than one shared pool of 20 connections held: round after round, each host's
    # conditional GET must go over the connection its first poll opened
    servers = [make_server({"/feed": respond(304, headers=[("ETag", '"v1"')])}) for _ in range(30)]
    fetcher = make_fetcher()
    for _round in range(3):
        for server in servers:
            got = fetcher.get(server.url("/feed"), policy=LOCAL, etag='"v1"')
            assert isinstance(got, NotModified)
    assert [s.connections for s in servers] == [1] * 30
    assert all(len(s.requests) == 3 for s in servers)


def test_a_connection_is_never_shared_between_address_policies(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    server = make_server({"/feed": respond(304)})
    fetcher = make_fetcher()
    scoped = FetchPolicy(allow_hosts=HostAllowlist.parse(["127.0.0.1"]))
    for policy in (LOCAL, scoped, LOCAL, scoped):
        assert isinstance(fetcher.get(server.url("/feed"), policy=policy, etag='"x"'), NotModified)
    assert server.connections == 2 and len(server.requests) == 4


def _get(transport: GuardedTransport, server: ScriptServer) -> None:
    url = httpcore.URL(scheme=b"http", host=b"127.0.0.1", port=server.port, target=b"/feed")
    headers = [(b"Host", f"127.0.0.1:{server.port}".encode())]
    timeouts = {"connect": 2.0, "read": 2.0, "write": 2.0, "pool": 2.0}
    response = transport.request((True, HostAllowlist()), url, headers, timeouts)
    try:
        assert response.status == 304
        assert isinstance(response.stream, Iterable)
        for _ in response.stream:  # a 304 has no body: this lets the connection go back to its pool
            pass
    finally:
        response.close()


def test_idle_pools_are_closed_after_the_keepalive_and_beyond_the_pool_cap(
    make_server: ServerFactory,
) -> None:
    servers = [make_server({"/feed": respond(304)}) for _ in range(4)]
    clock = DeadlineClock()
    ssl_context = ssl.create_default_context()
    transport = GuardedTransport(
        resolver=system_resolver, clock=clock, ssl_context=ssl_context, keepalive_expiry=0.3, max_pools=2
    )
    try:
        for server in servers[:3]:
            _get(transport, server)
        assert transport.pool_count == 2  # the least recently used one went beyond the cap
        _get(transport, servers[2])
        assert servers[2].connections == 1  # the newest pool kept its connection
        time.sleep(0.5)
        _get(transport, servers[3])
        assert transport.pool_count == 1  # the idle ones expired
    finally:
        transport.close()
