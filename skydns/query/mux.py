"""Which server block answers a name: the most specific zone wins (CoreDNS's zone walk)."""
from __future__ import annotations

from skydns.query import wire


class ZoneMux:
    """Finds the server block of the most specific zone for a name (CoreDNS's zone walk).

    DS records live in the parent zone, so a DS query for a zone's apex goes
    to the block of the parent zone when one is served here.
    """

    __slots__ = ("zones", "seen")

    #: Routes remembered per query name (not for DS); forgotten all at once when full.
    SEEN_MAX = 50000

    def __init__(self, zones: dict):
        self.zones = zones
        self.seen: dict = {}

    def route(self, qname: str, qtype: int):
        """``(zone, block)`` for ``qname``, or None when no block serves it."""
        if qtype != wire.TYPE_DS:
            found = self.seen.get(qname, self)
            if found is not self:
                return found
            found = self._walk(qname, qtype)
            if len(self.seen) >= self.SEEN_MAX:
                self.seen.clear()
            self.seen[qname] = found
            return found
        return self._walk(qname, qtype)

    def _walk(self, qname: str, qtype: int):
        zones = self.zones
        name = qname
        apex = None
        while True:
            block = zones.get(name)
            if block is not None:
                if qtype != wire.TYPE_DS or name != qname or name == ".":
                    return name, block
                apex = (name, block)
            if name == ".":
                return apex
            name = name[name.find(".") + 1:] or "."
