"""IPv4 addresses embedded in an IPv6 prefix (RFC 6052 section 2.2)."""
from __future__ import annotations

import ipaddress

#: The prefix lengths RFC 6052 allows.
LENGTHS = (32, 40, 48, 56, 64, 96)
#: The Well-Known Prefix (RFC 6052 section 2.1).
WELL_KNOWN = "64:ff9b::/96"


def parse(text: str) -> ipaddress.IPv6Network:
    """An NAT64 prefix; ValueError saying what is wrong with ``text``."""
    try:
        net = ipaddress.IPv6Network(text, strict=True)
    except ValueError as e:
        raise ValueError(f"'{text}' is not an IPv6 prefix: {e}") from None
    if net.prefixlen not in LENGTHS:
        raise ValueError(f"prefix length of '{text}' must be one of {', '.join(map(str, LENGTHS))}")
    if net.network_address.packed[8]:  # in a /96 prefix; a shorter one has it as host bits
        raise ValueError(f"bits 64 to 71 of '{text}' must be zero (RFC 6052)")
    return net


def embed(prefix: ipaddress.IPv6Network, ipv4: bytes) -> bytes:
    """The 16 bytes of the IPv6 address for the 4 bytes of ``ipv4`` under ``prefix``.

    The IPv4 bytes follow the prefix, skipping byte 8 (bits 64 to 71, the
    "u" octet, always zero); what is left over at the end stays zero.
    """
    out = bytearray(prefix.network_address.packed)
    pos = prefix.prefixlen // 8
    for b in ipv4:
        if pos == 8:
            pos += 1
        out[pos] = b
        pos += 1
    return bytes(out)
