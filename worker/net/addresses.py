"""Address policy: which resolved IPs a fetch may connect to."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from worker.net.allow import NO_HOSTS, HostAllowlist
from worker.net.errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# reliability.md (c): ip.is_global alone is wrong on CPython < 3.11.10 (CVE-2024-4032) and misses CGNAT etc.
_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "168.63.129.16/32",  # Azure's platform endpoint (wireserver), inside a public range
    )
)
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/96",  # unspecified, loopback and deprecated IPv4-compatible (::127.0.0.1 is "global" on 3.11.7)
        "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "100::/64", "2001:db8::/32", "3fff::/20",
        "64:ff9b:1::/48",  # local-use NAT64: prefix length varies, so the embedded IPv4 cannot be located
        "2001:10::/28", "2001:20::/28",
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
# Refused whatever a feed allows: cloud metadata and platform endpoints — also when embedded in an
# IPv6 address (IPv4-mapped, NAT64, 6to4, Teredo) — unspecified and multicast addresses, and the
# local-use NAT64 range, where the embedded IPv4 address cannot be located.
_ALWAYS_BLOCKED = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle instance metadata
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud metadata
        "168.63.129.16",  # Azure platform endpoint (wireserver)
        "fd00:ec2::254",  # AWS instance metadata over IPv6
    )
)


def parse_ip(text: str) -> IPAddress | None:
    """The address for a canonical IPv4/IPv6 literal (IPv6 zone ids dropped), else None."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def _v4_public(ip: ipaddress.IPv4Address) -> bool:
    return ip.is_global and not any(ip in net for net in _BLOCKED_V4)


def is_public_address(ip: str) -> bool:
    """True only for a globally routable unicast address outside the explicit block list.

    IPv6 addresses that embed an IPv4 address (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo
    2001::/32) are public only if every embedded IPv4 address is public too. Unparseable text is not public.
    """
    addr = parse_ip(ip)
    if addr is None:
        return False
    if isinstance(addr, ipaddress.IPv4Address):
        return _v4_public(addr)
    embedded = _embedded_ipv4(addr)
    if addr.ipv4_mapped is not None:
        return _v4_public(addr.ipv4_mapped)
    if any(not _v4_public(v4) for v4 in embedded):
        return False
    if any(addr in net for net in _BLOCKED_V6):
        return False
    return addr.is_global or addr in _NAT64


def never_allowed(addr: IPAddress) -> bool:
    """True for addresses no policy may reach (see `_ALWAYS_BLOCKED`), in any IPv6 wrapping."""
    targets: list[IPAddress] = [addr]
    if isinstance(addr, ipaddress.IPv6Address):
        if addr in _LOCAL_NAT64:
            return True
        targets += _embedded_ipv4(addr)
    return any(t.is_unspecified or t.is_multicast or t in _ALWAYS_BLOCKED for t in targets)


def vet_addresses(
    host: str, ips: Iterable[str], *, allow_private: bool = False, allow_hosts: HostAllowlist = NO_HOSTS
) -> list[str]:
    """Return the answers for ``host`` in order, or raise FetchError if ANY of them is refused.

    An answer is allowed when it is public, or when ``allow_private`` (every private address: for
    internal callers) or ``allow_hosts`` (the feed's scoped allowlist) covers it — but never when it
    is `never_allowed` (metadata endpoints, unspecified, multicast).
    """
    vetted: list[str] = []
    for ip in ips:
        addr = parse_ip(ip)
        if addr is None:
            raise FetchError(f"blocked: unparseable address {ip!r} for host {host!r}", transient=False)
        allowed = not never_allowed(addr) and (
            is_public_address(ip) or allow_private or allow_hosts.allows(host, addr)
        )
        if not allowed:
            raise FetchError(f"blocked: non-public address {addr} (host {host!r})", transient=False)
        if str(addr) not in vetted:
            vetted.append(str(addr))
    if not vetted:
        raise FetchError(f"DNS returned no addresses for host {host!r}", transient=True)
    return vetted
