"""Where a client is, and how far a service is from it.

Locations are paths, most general first: ``eu-west/a`` is zone ``a`` of region ``eu-west``.
Two locations are as far apart as the parts of their paths that differ (``eu-west/a`` and
``eu-west/b``: 1; ``eu-west/a`` and ``us-east/a``: 2); a service without a location is
farther than any.

A client is where the longest network of the map that holds its address says; a resolver's
EDNS Client Subnet option (RFC 7871), when it sends one, stands for the client behind it,
and the answer then carries the option back with the scope of the network that decided.
"""
from __future__ import annotations

import ipaddress
import struct

FAR = 1 << 16


def distance(a: str, b: str) -> int:
    if not a or not b:
        return FAR
    pa, pb = a.split("/"), b.split("/")
    same = 0
    for x, y in zip(pa, pb, strict=False):
        if x != y:
            break
        same += 1
    return max(len(pa), len(pb)) - same


class NetworkMap:
    """Networks to locations, longest prefix first."""

    def __init__(self, entries: list[tuple[str, str]]):
        self.entries = sorted(((ipaddress.ip_network(n, strict=False), loc) for n, loc in entries),
                              key=lambda e: -e[0].prefixlen)

    def locate(self, address: str):
        """``(location, network)`` for an address, or ``(None, None)``."""
        try:
            ip = ipaddress.ip_address(address.partition("%")[0])
        except ValueError:
            return None, None
        for net, loc in self.entries:
            if ip.version == net.version and ip in net:
                return loc, net
        return None, None


def parse_ecs(data: bytes):
    """``(address, source prefix length, family)`` of an EDNS Client Subnet option's data, or None."""
    if len(data) < 4:
        return None
    family, source, _scope = struct.unpack_from("!HBB", data)
    raw = data[4:]
    if family == 1 and source <= 32 and len(raw) == (source + 7) // 8:
        return str(ipaddress.IPv4Address(raw.ljust(4, b"\0"))), source, family
    if family == 2 and source <= 128 and len(raw) == (source + 7) // 8:
        return str(ipaddress.IPv6Address(raw.ljust(16, b"\0"))), source, family
    return None
