"""Addresses of a network interface, from the standard library only (Linux)."""
from __future__ import annotations

import fcntl
import ipaddress
import socket
import struct

_SIOCGIFADDR = 0x8915


def interface_addresses(name: str) -> list[str] | None:
    """IPv4 and global/loopback IPv6 addresses of interface ``name``; None if there is no such interface."""
    if name not in {n for _, n in socket.if_nameindex()}:
        return None
    out: list[str] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            raw = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            out.append(socket.inet_ntoa(raw[20:24]))
    except OSError:
        pass
    try:
        with open("/proc/net/if_inet6") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[5] == name:
                    addr = ipaddress.IPv6Address(int(parts[0], 16))
                    if not addr.is_link_local:  # would need a scope id to bind
                        out.append(str(addr))
    except OSError:
        pass
    return out
