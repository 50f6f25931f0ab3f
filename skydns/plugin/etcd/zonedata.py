"""The etcd zones as zone data (IZoneSource): what a transfer carries, and what an update checks against.

Each service's own name gets the records SkyDNS answers for that name from its
own keys: A/AAAA for an address host, SRV, MX (``mail``) and TXT as the lookups
make them, with the same TTLs (the service's ``ttl`` or the plugin's; a lease's
countdown is not zone data) and SRV weights. A host that is a name becomes a
CNAME, alone at its name (zone data allows nothing beside a CNAME). The apex
holds the SOA (serial: the etcd revision of the zone's last change, so it only
grows), the NS records of ``dns/ns`` (or ``ns.dns.<zone>``, the SOA's MNAME,
without them: a zone needs NS) and the addresses of ``dns/apex``.

Keys ``x1``, ``x2``... below a name (the records API's way to give one name several
records) are that name's records, as SkyDNS answers them, and names of their own too
(the targets of its SRV records).

Not zone data, so not transferred: SkyDNS's aggregated answers (a name above
several keys answers all of them: in a transfer it is an empty non-terminal),
queries with ``*``/``any`` labels, keys with such labels, and the health
monitor's filtering (a transfer holds every address).
"""
from __future__ import annotations

import struct

import dns.name
import dns.rdataclass

from skydns.etcd.records import LEAF
from skydns.msg import path
from skydns.plugin.etcd import lookup as lk
from skydns.plugin.etcd.handler import add_records
from skydns.zones import WILDCARDS

_TAIL = struct.Struct("!HHIH").pack
IN = dns.rdataclass.IN


class ZoneLookup(lk.Lookup):
    """The lookups with zone-data TTLs: a key's own TTL, not its lease's countdown."""

    def ttl(self, s) -> int:
        return s.ttl or self.s.ttl


def rr_wire(rrset) -> list[bytes]:
    """Each record of ``rrset`` as one uncompressed wire RR (owner in lower case)."""
    owner = rrset.name.canonicalize().to_wire()
    out = []
    for rd in rrset:
        data = rd.to_wire()
        out.append(owner + _TAIL(rrset.rdtype, IN, rrset.ttl, len(data)) + data)
    return out


class ZoneData:
    """Zone data of one etcd plugin's zones, rendered on demand from its copy."""

    def __init__(self, copy, settings: lk.Settings):
        self.copy = copy
        self.settings = settings
        self.lookup = ZoneLookup(copy, settings)

    def names(self, zone: str) -> list[str]:
        """Every owner name of ``zone``'s data: the apex, then each key's name under it (key order)."""
        labels = path.name_labels(zone)
        node = self.copy.index.root
        for label in labels:
            node = (node.children or {}).get(label)
            if node is None:
                return [zone]
        out = [zone]
        stack = [(node, list(labels))]
        while stack:
            n, at = stack.pop()
            if at != labels and (n.service is not None or any(
                    LEAF.match(label) and child.service is not None for label, child in (n.children or {}).items())):
                out.append(path.labels_to_name(at))
            if n.children:
                for label in sorted(n.children, reverse=True):
                    if label not in WILDCARDS:
                        stack.append((n.children[label], at + [label]))
        return out

    def own(self, name: str) -> list:
        """The services at ``name`` and its ``x<n>`` leaves (groups and duplicates as the lookups treat them)."""
        labels = path.name_labels(name)
        found = list(self.copy.index.lookup(labels, exact=True))
        for node in self.copy.index.nodes(labels):
            for label, child in (node.children or {}).items():
                if LEAF.match(label) and child.service is not None:
                    found.append(child.service)
        return lk.dedupe(lk.group_filter(found)) if found else []

    def rrs(self, zone: str, name: str) -> tuple[bytes, ...]:
        """The zone data at ``name`` as sorted wire RRs (empty when there is none), the SOA aside."""
        lookup = self.lookup
        recs: list[lk.Rec] = []
        if name == zone:
            r = lk.Result()
            lookup._ns(r, zone)
            recs.extend(r.answer or [lk.Rec(zone, lk.NS, ("ns.dns." + (zone if zone != "." else ""),),
                                            self.settings.ttl)])
            apex = lookup.services("apex.dns." + (zone if zone != "." else ""), exact=True) or []
            for s in apex:
                if s.kind in ("A", "AAAA"):
                    recs.append(lk.Rec(zone, lk.A if s.kind == "A" else lk.AAAA, (s.host,), lookup.ttl(s)))
        svcs = self.own(name) if name != zone else []
        if svcs:
            cnames = [s for s in svcs if s.kind == "CNAME"]
            if cnames and len(cnames) == len([s for s in svcs if s.kind]):
                recs.append(lk.Rec(name, lk.CNAME, (cnames[0].host,), lookup.ttl(cnames[0])))
            else:
                svcs = [s for s in svcs if s.kind != "CNAME"]
                for s in svcs:
                    if s.kind in ("A", "AAAA"):
                        recs.append(lk.Rec(name, lk.A if s.kind == "A" else lk.AAAA, (s.host,), lookup.ttl(s)))
                r = lk.Result()
                lookup._srv(r, name, svcs)
                lookup._mx(r, name, svcs)
                lookup._txt(r, r.answer, name, name, svcs, [name])
                recs.extend(rec for rec in r.answer if rec.owner == name)
        if not recs:
            return ()
        section: list = []
        add_records(section, recs, name, dns.name.from_text(name), None)
        out: list[bytes] = []
        for rrset in section:
            out.extend(rr_wire(rrset))
        return tuple(sorted(set(out)))

    def serial(self, zone: str) -> int:
        return self.copy.serial(zone)

    def soa(self, zone: str, serial: int | None = None) -> bytes:
        """The zone's SOA as a wire RR (with ``serial`` instead of the current one, for IXFR's old versions)."""
        rec = self.lookup.soa(zone, self.settings.ttl)
        if serial is not None:
            rec = lk.Rec(rec.owner, rec.rtype, rec.data[:2] + (serial,) + rec.data[3:], rec.ttl)
        section: list = []
        add_records(section, [rec], zone, dns.name.from_text(zone), None)
        return rr_wire(section[0])[0]
