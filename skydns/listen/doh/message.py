"""What RFC 8484 says about a DNS message in HTTP, whichever HTTP carries it: the path, the media type,
``?dns=`` in a GET, the largest body, and ``max-age`` from the answer's TTLs."""
from __future__ import annotations

import base64
import binascii

from skydns.query import wire

PATH = b"dns-query"
CONTENT_TYPE = b"application/dns-message"
#: The largest DNS message (RFC 8484 caps nothing, the DNS does).
MAX_MESSAGE = 65535


class BadRequest(ValueError):
    """The request carries no DNS message (400, the reason as the body)."""


def max_age(reply: bytes) -> int:
    """Seconds an HTTP cache may keep ``reply``: its smallest answer TTL, or the SOA minimum of a denial."""
    try:
        s = wire.scan(reply)
    except Exception:
        return 0
    if s.answers and s.min_ttl is not None:
        return s.min_ttl
    return s.soa_min or 0


def from_base64url(text: bytes) -> bytes:
    """The message of a GET's ``dns`` parameter (base64url, padding left out: RFC 8484 4.1)."""
    try:
        return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise BadRequest("dns parameter is not base64url") from e


def dns_parameter(query: bytes) -> bytes:
    """The message in a URL's query string (``a=b&dns=...``): its first ``dns`` parameter, decoded."""
    for part in query.split(b"&"):
        if part.startswith(b"dns="):
            return from_base64url(part[4:])
    raise BadRequest("missing dns parameter")
