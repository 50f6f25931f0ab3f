"""A service: the JSON value of an etcd key, checked once when it is read.

Fields (matched case-insensitively): host, port, priority, weight, text, ttl,
targetstrip, group, mail (SkyDNS's), and skydns's own, all optional: ``service``
and ``proto`` (the service it offers: ``_service._proto`` names, RFC 2782 and DNS-SD,
proto ``tcp`` by default), ``alpn`` (a list of ALPN ids: HTTPS/SVCB records, RFC
9460) and ``location`` (where it runs, for answers near the client). A value that is
not a JSON object or has a field of the wrong type is refused as a whole, with a
reason that names the field.
"""
from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import dns.name

#: Values larger than this are refused: a service record is a few hundred bytes.
MAX_VALUE_SIZE = 16 * 1024
#: A name's longest wire form (RFC 1035 3.1): a key deeper than this could never be written in an answer.
MAX_NAME_OCTETS = 255

#: A service name (RFC 6335 5.1: at most 15 letters, digits and hyphens; no hyphen first, last or doubled).
SERVICE_LABEL = re.compile(r"(?=.{1,15}\Z)[a-z0-9]+(-[a-z0-9]+)*\Z")
DEFAULT_PRIORITY = 10
DEFAULT_WEIGHT = 100


class InvalidService(ValueError):
    """The value cannot be a service; the message says why."""


def _int(name: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise InvalidService(f"field '{name}' must be an integer, got {json.dumps(value)[:40]}")
    if not low <= value <= high:
        raise InvalidService(f"field '{name}' must be between {low} and {high}, got {value}")
    return value


def _str(name: str, value) -> str:
    if not isinstance(value, str):
        raise InvalidService(f"field '{name}' must be a string, got {json.dumps(value)[:40]}")
    return value


#: The 16-bit values seen (ports, priorities, weights): at most 65,536 entries.
_SHARED_INTS: dict[int, int] = {}


class Service:
    """One service record.

    :ivar name: the name of its key (lower case, dot-terminated).
    :ivar kind: what the host is: ``"A"``, ``"AAAA"``, ``"CNAME"`` (a name), or
        ``""`` (no host: a TXT-only or empty record).
    :ivar host: the address (normalised) or the target name (lower case, dot-terminated).
    :ivar lease: the etcd lease of the key (0 for none).
    :ivar health: the ``health`` field as written (how the scanner probes the host), or None;
        checked by the scanner, not here (a bad one costs the probe, never the record).
    """

    # Only what nearly every service has is a slot of its own (a service is held for every key of a large
    # estate); the fields few services set are class defaults here, and slots of RichService, which
    # Service(...) becomes when one of them is given.
    __slots__ = ("name", "host", "kind", "port", "priority", "weight", "text", "ttl", "lease")
    targetstrip = 0
    group = ""
    mail = False
    health = None
    service = ""
    proto = "tcp"
    alpn: tuple = ()
    location = ""

    def __new__(cls, name: str, host: str = "", port: int = 0, priority: int = DEFAULT_PRIORITY,
                weight: int = DEFAULT_WEIGHT, text: str = "", ttl: int = 0, targetstrip: int = 0, group: str = "",
                mail: bool = False, lease: int = 0, service: str = "", proto: str = "tcp", alpn: tuple = (),
                location: str = "", health=None):
        if cls is Service and (targetstrip or group or mail or service or proto != "tcp" or alpn or location
                               or health is not None):
            cls = RichService
        return object.__new__(cls)

    def __init__(self, name: str, host: str = "", port: int = 0, priority: int = DEFAULT_PRIORITY,
                 weight: int = DEFAULT_WEIGHT, text: str = "", ttl: int = 0, targetstrip: int = 0, group: str = "",
                 mail: bool = False, lease: int = 0, service: str = "", proto: str = "tcp", alpn: tuple = (),
                 location: str = "", health=None):
        self.name = name
        self.port = port
        self.priority = priority
        self.weight = weight
        self.text = text
        self.ttl = ttl
        self.lease = lease
        self.kind, self.host = classify(host)
        if self.__class__ is RichService:
            self.targetstrip = targetstrip
            self.group = group
            self.mail = mail
            self.health = health
            self.service = service
            self.proto = proto
            self.alpn = alpn
            self.location = location

    #: As a node of the etcd copy's index (a name with nothing below it): no children, its record itself.
    children = None

    @property
    def record(self) -> Service:
        return self

    @property
    def depth(self) -> int:
        """The number of labels of ``name`` (for groups)."""
        return self.name.count(".")

    def identity(self) -> tuple:
        """What makes two services the same record (keys differ): host, port, priority, weight, text, and the
        service, protocol and ALPN they offer."""
        return (self.host, self.port, self.priority, self.weight, self.text, "", "tcp", ())

    def __repr__(self) -> str:
        return f"<Service {self.name} {self.kind} {self.host!r} port={self.port}>"


class RichService(Service):
    """A service that sets one of the fields few services set (a group, a health check, SVCB fields...)."""

    __slots__ = ("targetstrip", "group", "mail", "health", "service", "proto", "alpn", "location")

    def identity(self) -> tuple:
        return (self.host, self.port, self.priority, self.weight, self.text, self.service, self.proto, self.alpn)


def classify(host: str) -> tuple[str, str]:
    """``(kind, normalised host)`` of a host field."""
    host = host.strip()
    if not host:
        return "", ""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        mapped = getattr(ip, "ipv4_mapped", None)
        if ip.version == 6 and mapped is None:
            return "AAAA", str(ip)
        return "A", str(mapped or ip)
    try:
        if host.isascii():
            name = dns.name.from_text(host)
        else:  # the labels' UTF-8, as keys make names (skydns.msg.path), not IDNA
            labels = host.rstrip(".").split(".")
            name = dns.name.Name([label.encode("utf-8", "replace") for label in labels] + [b""])
    except Exception as e:
        raise InvalidService(f"host '{host[:60]}' is neither an IP address nor a domain name: {e}") from e
    return "CNAME", name.to_text().lower()


def from_json(raw: bytes | str, name: str, lease: int = 0) -> Service:
    """Read a service from an etcd value; raise InvalidService with the reason."""
    if len(name) + 1 > MAX_NAME_OCTETS:  # "a.b." is 5 octets on the wire: its length plus the root's
        raise InvalidService(f"its name is {len(name) + 1} octets long, more than DNS allows ({MAX_NAME_OCTETS})")
    if len(raw) > MAX_VALUE_SIZE:
        raise InvalidService(f"value of {len(raw)} bytes is larger than {MAX_VALUE_SIZE}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidService(f"not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise InvalidService(f"JSON {type(data).__name__} where an object was expected")
    f = {k.lower(): v for k, v in data.items()}
    kwargs: dict[str, Any] = {}
    if "host" in f and f["host"] is not None:
        kwargs["host"] = _str("host", f["host"])
    for field, low, high in (("port", 0, 65535), ("priority", 0, 65535), ("weight", 0, 65535),
                             ("ttl", 0, 2**31 - 1), ("targetstrip", 0, 127)):
        if field in f and f[field] is not None:
            n = _int(field, f[field], low, high)
            # one int object per value for the 16-bit fields (a port of 8080 in every service is one object)
            kwargs[field] = _SHARED_INTS.setdefault(n, n) if n <= 65535 else n
    for field in ("text", "group"):
        if field in f and f[field] is not None:
            kwargs[field] = _str(field, f[field])
    for field in ("service", "proto"):
        if f.get(field) is not None:
            value = _str(field, f[field]).lower()
            if not SERVICE_LABEL.match(value):
                raise InvalidService(f"field '{field}' must be a service name (letters, digits, '-', at most 15: "
                                     f"RFC 6335), got {json.dumps(value)[:40]}")
            kwargs[field] = value
    if f.get("alpn") is not None:
        alpn = f["alpn"]
        if isinstance(alpn, str):
            alpn = [alpn]
        if not isinstance(alpn, list) or not alpn or len(alpn) > 16 or not all(
                isinstance(a, str) and 0 < len(a.encode()) < 256 and a.isascii() for a in alpn):
            raise InvalidService(f"field 'alpn' must be a list of ALPN ids (h2, http/1.1...), got "
                                 f"{json.dumps(f['alpn'])[:40]}")
        kwargs["alpn"] = tuple(alpn)
    if f.get("location") is not None:
        location = _str("location", f["location"])
        if not 0 < len(location) <= 128:
            raise InvalidService("field 'location' must be 1 to 128 characters")
        kwargs["location"] = location
    if "mail" in f and f["mail"] is not None:
        if not isinstance(f["mail"], bool):
            raise InvalidService(f"field 'mail' must be true or false, got {json.dumps(f['mail'])[:40]}")
        kwargs["mail"] = f["mail"]
    # health: the scanner's field, read (and judged) by the scanner alone
    return Service(name, lease=lease, health=f.get("health"), **kwargs)


def group_filter(services: list[Service]) -> list[Service]:
    """SkyDNS groups: the group of the shortest key(s) with a group decides.

    Services without a group are always kept; keys at that shortest depth
    that disagree on the group mean no filtering.
    """
    grouped = [s for s in services if s.group]
    if not grouped:
        return services
    depth = min(s.depth for s in grouped)
    groups = {s.group for s in grouped if s.depth == depth}
    if len(groups) != 1:
        return services
    (group,) = groups
    return [s for s in services if not s.group or s.group == group]


def dedupe(services: list[Service]) -> list[Service]:
    """Services identical in host, port, priority, weight and text count once."""
    seen = set()
    out = []
    for s in services:
        k = s.identity()
        if k not in seen:
            seen.add(k)
            out.append(s)
    return out
