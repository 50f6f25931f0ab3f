"""Small record helpers several plugins need: TXT character-strings and the TTL rules.

The server's rules for TTLs, in one place: a section's records all take the
smallest TTL found in it (SkyDNS), and TTLs a plugin chooses are kept
between a floor and a ceiling (the cache's ``success``/``denial`` bounds).
"""
from __future__ import annotations

from collections.abc import Iterable

#: The longest character-string a TXT record can hold (RFC 1035 3.3).
MAX_STRING = 255
#: The largest TTL a record may carry (RFC 2181 8: 2**31 - 1 seconds).
MAX_TTL = 2**31 - 1


def txt_strings(text: str | bytes) -> list[bytes]:
    """``text`` cut into TXT character-strings of at most 255 bytes (one empty string for no text)."""
    raw = text.encode() if isinstance(text, str) else text
    return [raw[i:i + MAX_STRING] for i in range(0, len(raw), MAX_STRING)] or [b""]


def txt_wire(text: str | bytes) -> bytes:
    """TXT rdata on the wire: each character-string of ``text`` with its length byte."""
    return b"".join(bytes((len(s),)) + s for s in txt_strings(text))


def section_ttl(ttls: Iterable[int]) -> int | None:
    """The TTL every record of a section takes: the smallest of them (None for no records)."""
    return min(ttls, default=None)


def bounded_ttl(ttl: int, floor: int, ceiling: int) -> int:
    """``ttl`` kept within ``[floor, ceiling]`` (the ceiling wins when they cross)."""
    return min(max(ttl, floor), ceiling)
