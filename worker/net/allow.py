"""Scoped exceptions to the public-only address policy: the hosts one feed may reach.

A feed's `allow_hosts` lists host names (`bridge.internal`) and IP addresses or networks
(`10.1.2.0/24`). A fetch under that feed's policy may connect to a non-public address only when
the URL's host is one of the names (then any address it resolves to, except those that are never
allowed) or the address lies in one of the networks. Everything else keeps the public-only policy,
so a link or a redirect in an allowed feed that leads elsewhere is refused like any other.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalise_allowed_host(text: str) -> str:
    """The canonical spelling of one `allow_hosts` entry; ValueError when it is neither a host
    name nor an IP address or network."""
    value = text.strip().lower().rstrip(".")
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        pass
    labels = value.split(".")
    if not value or len(value) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{text!r} is not a host name, an IP address or a network (CIDR)")
    if labels[-1].isdigit():
        raise ValueError(f"{text!r} is not a host name, an IP address or a network (CIDR)")
    return value


@dataclass(frozen=True)
class HostAllowlist:
    """Host names and networks a fetch may reach on non-public addresses (empty: none)."""

    names: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> HostAllowlist:
        """Build from `allow_hosts` entries (raises ValueError on a bad one)."""
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            value = normalise_allowed_host(entry)
            try:
                networks.append(ipaddress.ip_network(value))
            except ValueError:
                names.add(value)
        return cls(frozenset(names), tuple(dict.fromkeys(networks)))

    def __bool__(self) -> bool:
        return bool(self.names or self.networks)

    def allows(self, host: str, addr: IPAddress) -> bool:
        """True when `addr`, answered for the URL host `host`, is within this allowlist."""
        if host.lower().rstrip(".") in self.names:
            return True
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr.version == net.version and addr in net for net in self.networks)


NO_HOSTS = HostAllowlist()
