"""Address policy at connect time: loopback spellings, stubbed address classes, rebinding, blocked hops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.net.servers import ScriptServer, redirect, respond
from worker.net import Fetched, Fetcher, FetchError, FetchLimits, FetchPolicy, is_public_address

pytestmark = pytest.mark.allow_hosts(["127.0.0.1", "127.0.0.2", "::1"])
ServerFactory = Callable[..., ScriptServer]
FetcherFactory = Callable[..., Fetcher]

LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "0.0.0.0",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "127.1",
    "[::]",
    "localhost",
    "LOCALHOST.",
    "sub.localhost",
]


class StubResolver:
    """Answers every lookup with fixed addresses (or a sequence of answers); counts calls."""

    def __init__(self, *answers: list[str], delay_s: float = 0.0) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []
        self.delay_s = delay_s
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> list[str]:
        with self._lock:
            self.calls.append((host, port))
            index = min(len(self.calls), len(self.answers)) - 1
        time.sleep(self.delay_s)
        return self.answers[index]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_loopback_spellings_refused_with_zero_hits(
    make_server: ServerFactory, make_fetcher: FetcherFactory, connects: list[Any], host: str
) -> None:
    server = make_server({"/": respond(200, b"secret")}, with_ipv6=True)
    with pytest.raises(FetchError) as caught:
        make_fetcher().get(f"http://{host}:{server.port}/")
    reason = caught.value.reason
    assert reason.startswith("blocked: non-public address") or reason.startswith("invalid URL: Invalid IPv4")
    assert not caught.value.transient
    assert server.connections == 0 and connects == []


BLOCKED_ANSWERS = [
    ["10.0.0.1"],
    ["172.16.0.1"],
    ["192.168.1.1"],
    ["100.64.0.1"],
    ["169.254.169.254"],
    ["192.0.0.171"],
    ["198.18.0.1"],
    ["240.0.0.1"],
    ["255.255.255.255"],
    ["224.0.0.1"],
    ["fd00::1"],
    ["fe80::1"],
    ["ff02::1"],
    ["64:ff9b::a00:1"],
    ["2002:a00:1::"],
    ["::ffff:10.0.0.1"],
    ["2001:0:4136:e378:8000:63bf:f5ff:fffe"],
    ["::127.0.0.1"],
    ["93.184.216.34", "10.0.0.1"],
    ["2606:4700::1111", "fd00::1"],
]


@pytest.mark.parametrize("answer", BLOCKED_ANSWERS, ids=lambda a: ",".join(a))
def test_resolved_address_classes_refused_before_connect(
    make_fetcher: FetcherFactory, connects: list[Any], answer: list[str]
) -> None:
    resolver = StubResolver(answer)
    with pytest.raises(FetchError) as caught:
        make_fetcher(resolver=resolver).get("http://feed.test/rss")
    assert caught.value.reason.startswith("blocked: non-public address")
    assert not caught.value.transient
    assert resolver.calls == [("feed.test", 80)]
    assert connects == []


@pytest.mark.parametrize(
    "answer", [["169.254.169.254"], ["0.0.0.0"], ["224.0.0.1"], ["::"], ["fd00:ec2::254"]]
)
def test_allow_private_still_refuses_metadata_unspecified_multicast(
    make_fetcher: FetcherFactory, connects: list[Any], answer: list[str]
) -> None:
    with pytest.raises(FetchError) as caught:
        make_fetcher(resolver=StubResolver(answer)).get("http://internal.test/", policy=FetchPolicy(True))
    assert caught.value.reason.startswith("blocked: non-public address") and connects == []


def test_dns_rebinding_connects_only_to_the_vetted_address(
    make_server: ServerFactory, make_fetcher: FetcherFactory, connects: list[Any]
) -> None:
    vetted = make_server({"/": respond(200, b"vetted")})
    rebound = ScriptServer(routes={"/": respond(200, b"rebound")}, host="127.0.0.2")
    rebound.start()
    try:
        port = vetted.port
        resolver = StubResolver(["127.0.0.1"], ["127.0.0.2"])
        fetcher = make_fetcher(resolver=resolver)
        for _ in range(3):
            result = fetcher.get(f"http://feed.test:{port}/", policy=FetchPolicy(allow_private=True))
            assert isinstance(result, Fetched) and result.body == b"vetted"
        assert len(resolver.calls) == 1 and rebound.connections == 0
        assert [address[0] for address in connects] == ["127.0.0.1"]
        assert vetted.requests[0].headers["host"] == f"feed.test:{port}"
    finally:
        rebound.close()


def test_private_pool_is_not_reused_by_strict_fetches(
    make_server: ServerFactory, make_fetcher: FetcherFactory
) -> None:
    server = make_server({"/": respond(200, b"internal")})
    fetcher = make_fetcher()
    assert isinstance(fetcher.get(server.url("/"), policy=FetchPolicy(allow_private=True)), Fetched)
    with pytest.raises(FetchError, match="blocked: non-public address 127.0.0.1"):
        fetcher.get(server.url("/"))
    assert len(server.requests) == 1


@pytest.mark.parametrize("target", ["http://0.0.0.0:{port}/", "http://169.254.169.254/latest/meta-data/"])
def test_redirect_to_blocked_address_gets_zero_hits(
    make_server: ServerFactory, make_fetcher: FetcherFactory, target: str
) -> None:
    victim = make_server({"/": respond(200, b"secret")})
    start = make_server({"/go": redirect(target.format(port=victim.port))}, host="127.0.0.2")
    with pytest.raises(FetchError) as caught:
        make_fetcher().get(start.url("/go"), policy=FetchPolicy(allow_private=True))
    assert caught.value.reason.startswith("blocked: non-public address")
    assert len(start.requests) == 1 and victim.connections == 0


def test_strict_fetch_of_localhost_never_connects(
    make_server: ServerFactory, make_fetcher: FetcherFactory, connects: list[Any]
) -> None:
    victim = make_server({"/": respond(200, b"secret")})
    with pytest.raises(FetchError, match="blocked"):
        make_fetcher().get(f"http://localhost:{victim.port}/")
    assert victim.connections == 0 and connects == []


def test_slow_dns_is_bounded_by_the_deadline(make_fetcher: FetcherFactory) -> None:
    resolver = StubResolver(["127.0.0.1"], delay_s=3.0)
    fetcher = make_fetcher(limits=FetchLimits(deadline_s=0.5), resolver=resolver)
    began = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetcher.get("http://slow-dns.test/", policy=FetchPolicy(allow_private=True))
    assert time.monotonic() - began < 1.0
    assert caught.value.reason == "deadline of 0.5 s exceeded" and caught.value.transient


def test_dns_failure_is_transient(make_fetcher: FetcherFactory) -> None:
    def failing(host: str, port: int) -> list[str]:
        raise OSError(-2, "Name or service not known")

    with pytest.raises(FetchError) as caught:
        make_fetcher(resolver=failing).get("http://nowhere.test/")
    assert caught.value.transient and caught.value.reason.startswith(
        "DNS lookup failed for host 'nowhere.test'"
    )


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"],
)
def test_public_addresses_are_public(address: str) -> None:
    assert is_public_address(address)


@pytest.mark.parametrize(
    "address",
    [ip for answer in BLOCKED_ANSWERS for ip in answer if ip not in ("93.184.216.34", "2606:4700::1111")]
    + [
        "127.0.0.1",
        "0.0.0.0",
        "::1",
        "::",
        "192.0.2.1",
        "198.51.100.1",
        "203.0.113.1",
        "192.88.99.1",
        "2001:db8::1",
        "3fff::1",
        "100::1",
        "64:ff9b:1::a00:1",
        "not-an-ip",
        "",
        "fe80::1%eth0",
    ],
)
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)
