"""Zones and names: which zone holds a name, and SkyDNS's wildcard labels.

Every plugin that serves some zones asks the same question, "is this name
mine?" (CoreDNS's ``plugin.Zones.Matches``): the answer lives here, once.
Names and zones are in the form the server uses everywhere: lower case,
presentation format, with the trailing dot (``www.example.org.``; the root is
``.``), as :attr:`skydns.query.request.Request.qname` and ``Dispenser.zones`` give them.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

#: Labels that stand for any one label in a SkyDNS lookup (``*.east.skydns.local``).
WILDCARDS = frozenset(("*", "any"))


def in_zones(name: str, zones: Iterable[str]) -> str | None:
    """The most specific of ``zones`` that holds ``name`` (itself or a name below it), or None.

    The root ``.`` holds every name. Whole labels only: ``example.org.`` holds
    ``www.example.org.`` but not ``myexample.org.``.
    """
    best = None
    for z in zones:
        if z == "." or name == z or name.endswith("." + z):
            if best is None or len(z) > len(best):
                best = z
    return best


def is_subdomain(name: str, zone: str) -> bool:
    """Is ``name`` the zone ``zone`` or a name below it?"""
    return zone == "." or name == zone or name.endswith("." + zone)


def has_wildcard(name: str) -> bool:
    """Does ``name`` have a wildcard label (``*`` or ``any``) anywhere?"""
    return any(label in WILDCARDS for label in name.split("."))


def wildcard_matches(pattern: Sequence[str], labels: Sequence[str]) -> bool:
    """Does the name of ``labels`` lie at or below a name matching ``pattern``?

    Both are label lists from the top down (``["org", "example", "*"]``, see
    :func:`skydns.msg.path.name_labels`); a wildcard label in ``pattern``
    matches any one label in that position, as a SkyDNS lookup does.
    """
    if len(pattern) > len(labels):
        return False
    return all(p in WILDCARDS or p == label for p, label in zip(pattern, labels, strict=False))


def strip_labels(name: str, count: int) -> str:
    """``name`` without its ``count`` leftmost labels (the whole name if that would remove all)."""
    if count <= 0:
        return name
    labels = name.rstrip(".").split(".")
    if count >= len(labels):
        return name
    return ".".join(labels[count:]) + "."


def falls_through(name: str, fallthrough: list[str] | None) -> bool:
    """CoreDNS's ``fallthrough [ZONES...]``: may a plugin pass ``name`` on instead of answering NXDOMAIN?
    ``fallthrough`` is None without the option, ``[]`` for every zone, else the zones it names."""
    if fallthrough is None:
        return False
    return not fallthrough or in_zones(name, fallthrough) is not None
