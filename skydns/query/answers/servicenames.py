"""Asking by service and protocol: RFC 2782 names and DNS-SD browsing (RFC 6763) over the services' fields.

A service that says ``"service": "http"`` (``"proto"``, default ``tcp``) answers, besides
its own name:

* ``_http._tcp.NAME`` SRV: the services of NAME (and below it, SkyDNS's aggregation) that
  offer it, as NAME's SRV answer gives them;
* ``_services._dns-sd._udp.ZONE`` PTR: ``_http._tcp.ZONE``, once per type offered in the zone;
* ``_http._tcp.ZONE`` PTR: one instance per name offering it, ``INSTANCE._http._tcp.ZONE``,
  INSTANCE being the name relative to the zone as one label (``web``; ``a\\.web``; a
  record ``x1`` below ``web`` is part of the instance ``web``);
* ``INSTANCE._http._tcp.ZONE`` SRV and TXT (the services' text, an empty string without).

Keys written under such names (``_tcp/_http`` in etcd) are answered as they are: these
names are made only where there is no key.
"""
from __future__ import annotations

import dns.name

from skydns.msg.records import LEAF

DNS_SD = "_services._dns-sd._udp"
SRV, PTR, TXT = 33, 12, 16


def parse(qname: str, zone: str):
    """``("browse", None, None, None)``, ``("type", service, proto, base)`` or ``("instance", service, proto,
    instance name)`` for a service name in ``zone``; None for any other name."""
    if not ("._" in qname or qname.startswith("_")):
        return None
    try:
        labels = [label.decode("utf-8", "replace").lower() for label in dns.name.from_text(qname).labels[:-1]]
    except dns.name.NameTooLong:
        return None
    depth = len([x for x in zone.split(".") if x])
    rel = labels[:len(labels) - depth] if depth else labels
    if ".".join(rel) == DNS_SD:
        return "browse", None, None, None
    if len(rel) >= 2 and rel[0].startswith("_") and rel[1].startswith("_"):
        base = ".".join(rel[2:] + [zone.rstrip(".")]) + "." if rel[2:] or zone != "." else "."
        return "type", rel[0][1:], rel[1][1:], base
    if len(rel) == 3 and rel[1].startswith("_") and rel[2].startswith("_") and not rel[0].startswith("_"):
        instance = f"{rel[0]}.{zone}" if zone != "." else f"{rel[0]}."
        return "instance", rel[1][1:], rel[2][1:], instance
    return None


def instance_of(name: str) -> str:
    """The instance a service's name stands for: its name, or the name a ``x<n>`` record belongs to."""
    first, _, rest = name.partition(".")
    return rest if LEAF.match(first) and rest else name


def instance_label(name: str, zone: str) -> str:
    """``name`` relative to ``zone`` as one label, in presentation form (dots escaped)."""
    rel = name[:-len(zone)].rstrip(".") if zone != "." else name.rstrip(".")
    return rel.replace("\\", "\\\\").replace(".", "\\.")


def offering(svcs, service: str, proto: str) -> list:
    return [s for s in svcs if s.service == service and s.proto == proto]
