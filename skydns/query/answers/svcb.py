"""HTTPS and SVCB records (RFC 9460) made from services: where to connect, with which protocols.

A service with ``alpn`` (or ``service: https``) is an HTTPS endpoint of its name. Its record
(ServiceMode, priority the service's ``priority``): the target ``.`` (the name itself) when
the host is an address, with ``ipv4hint``/``ipv6hint`` from the addresses of the name's
services of the same port and protocols; the host when it is a name; ``port`` when it is
not 443; ``alpn`` as given. An SVCB query of the name answers the same records as SVCB.
"""
from __future__ import annotations

import socket
import struct

from skydns.msg.service import Service

HTTPS, SVCB = 65, 64
KEY_ALPN, KEY_PORT, KEY_IPV4HINT, KEY_IPV6HINT = 1, 3, 4, 6


def params(alpn: tuple, port: int, v4: list[str], v6: list[str]) -> bytes:
    """SvcParams in wire form, keys in increasing order (RFC 9460 2.2)."""
    out = b""
    if alpn:
        ids = b"".join(bytes([len(a.encode())]) + a.encode() for a in alpn)
        out += struct.pack("!HH", KEY_ALPN, len(ids)) + ids
    if port and port != 443:
        out += struct.pack("!HHH", KEY_PORT, 2, port)
    if v4:
        out += struct.pack("!HH", KEY_IPV4HINT, 4 * len(v4)) + b"".join(socket.inet_aton(a) for a in v4)
    if v6:
        out += struct.pack("!HH", KEY_IPV6HINT, 16 * len(v6)) + b"".join(socket.inet_pton(socket.AF_INET6, a)
                                                                          for a in v6)
    return out


def offers_https(s: Service) -> bool:
    return bool(s.alpn) or s.service == "https"


def records(svcs: list[Service]) -> list[tuple[int, str, bytes, Service]]:
    """``(priority, target, params, first service)`` for each distinct endpoint among ``svcs``."""
    groups: dict[tuple, list[Service]] = {}
    for s in svcs:
        if s.kind and offers_https(s):
            target = s.host if s.kind == "CNAME" else "."
            groups.setdefault((s.priority or 1, target, s.port, s.alpn), []).append(s)
    out = []
    for (priority, target, port, alpn), group in groups.items():
        v4 = sorted({s.host for s in group if s.kind == "A"}) if target == "." else []
        v6 = sorted({s.host for s in group if s.kind == "AAAA"}) if target == "." else []
        out.append((priority, target, params(alpn, port, v4, v6), group[0]))
    return out
