"""A feed's scoped `allow_hosts`: the listed hosts (names, addresses, networks) are reachable on
private addresses, nothing else is — not another internal host, not a redirect off the list —
and metadata endpoints stay refused in every spelling. DNS lookups run in a bounded set of
threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.net.servers import ScriptServer, redirect, respond
from tests.net.test_fetch_ssrf import StubResolver
from worker.net import Fetched, Fetcher, FetchError, FetchLimits, FetchPolicy, is_public_address
from worker.net.allow import HostAllowlist
from worker.net.backend import DNS_THREADS

pytestmark = pytest.mark.allow_hosts(["127.0.0.1", "127.0.0.2", "::1"])
ServerFactory = Callable[..., ScriptServer]
FetcherFactory = Callable[..., Fetcher]


def _policy(*hosts: str) -> FetchPolicy:
    return FetchPolicy(allow_hosts=HostAllowlist.parse(hosts))


def test_an_allowed_name_is_reachable_on_a_private_address(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    server = make_server({"/": respond(200, b"internal feed")})
    fetcher = make_fetcher(resolver=StubResolver(["127.0.0.1"]))
    got = fetcher.get(f"http://bridge.internal:{server.port}/", policy=_policy("bridge.internal"))
    assert isinstance(got, Fetched) and got.body == b"internal feed"


def test_another_internal_host_is_refused_under_the_same_policy(
    make_server: ServerFactory, make_fetcher: FetcherFactory, connects: list[Any]
) -> None:
    server = make_server({"/": respond(200, b"secret")})
    fetcher = make_fetcher(resolver=StubResolver(["127.0.0.1"]))
    for url in (f"http://admin.internal:{server.port}/", f"http://127.0.0.1:{server.port}/"):
        with pytest.raises(FetchError, match="blocked: non-public address 127.0.0.1"):
            fetcher.get(url, policy=_policy("bridge.internal"))
    assert server.connections == 0 and connects == []


def test_a_redirect_off_the_allowed_hosts_is_refused(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    victim = make_server({"/": respond(200, b"secret")}, host="127.0.0.2")
    start = make_server({"/go": redirect(f"http://127.0.0.2:{victim.port}/")})
    fetcher = make_fetcher(resolver=StubResolver(["127.0.0.1"]))
    with pytest.raises(FetchError, match="blocked: non-public address 127.0.0.2"):
        fetcher.get(f"http://bridge.internal:{start.port}/go", policy=_policy("bridge.internal"))
    assert len(start.requests) == 1 and victim.connections == 0


def test_a_redirect_that_stays_on_an_allowed_network_is_followed(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    target = make_server({"/": respond(200, b"moved here")}, host="127.0.0.2")
    start = make_server({"/go": redirect(f"http://127.0.0.2:{target.port}/")})
    got = make_fetcher().get(start.url("/go"), policy=_policy("127.0.0.0/30"))
    assert isinstance(got, Fetched) and got.body == b"moved here"


def test_a_connection_made_for_an_allowed_host_is_not_reused_without_the_allow(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    server = make_server({"/": respond(200, b"internal")})
    fetcher = make_fetcher(resolver=StubResolver(["127.0.0.1"]))
    url = f"http://bridge.internal:{server.port}/"
    assert isinstance(fetcher.get(url, policy=_policy("bridge.internal")), Fetched)
    for policy in (FetchPolicy(), _policy("other.internal")):
        with pytest.raises(FetchError, match="blocked: non-public address 127.0.0.1"):
            fetcher.get(url, policy=policy)
    assert len(server.requests) == 1


METADATA_SPELLINGS = [
    "169.254.169.254",
    "168.63.129.16",
    "100.100.100.200",
    "fd00:ec2::254",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::a83f:8110",  # NAT64 of 168.63.129.16
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2002:a83f:8110::1",  # 6to4 of 168.63.129.16
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64: the embedded address cannot be located
]


@pytest.mark.parametrize("address", METADATA_SPELLINGS)
def test_metadata_endpoints_are_refused_whatever_is_allowed(
    make_fetcher: FetcherFactory, connects: list[Any], address: str
) -> None:
    fetcher = make_fetcher(resolver=StubResolver([address]))
    for policy in (FetchPolicy(), _policy("bridge.internal", "0.0.0.0/0", "::/0"), FetchPolicy(True)):
        with pytest.raises(FetchError, match="blocked: non-public address"):
            fetcher.get("http://bridge.internal/", policy=policy)
    assert connects == []
    assert not is_public_address(address)


def test_dns_lookups_run_in_a_bounded_number_of_threads(make_fetcher: FetcherFactory) -> None:
    release = threading.Event()

    def never_answers(host: str, port: int) -> list[str]:
        release.wait(30)
        return ["127.0.0.1"]

    fetcher = make_fetcher(limits=FetchLimits(deadline_s=0.2), resolver=never_answers)
    before = threading.active_count()
    peak = before
    try:
        for i in range(5 * DNS_THREADS):  # a feed with many links to names that never resolve
            with pytest.raises(FetchError) as caught:
                fetcher.get(f"http://slow-{i}.test/", policy=FetchPolicy(True))
            assert caught.value.transient
            peak = max(peak, threading.active_count())
    finally:
        release.set()
    assert peak - before <= DNS_THREADS, f"{peak - before} lookup threads for {5 * DNS_THREADS} links"
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before  # every lookup thread ended once DNS answered
