"""The etcd zones as zone data (IZoneSource): what a transfer carries, and what an update checks against.

Each service's own name gets the records SkyDNS answers for that name from its
own keys: A/AAAA for an address host, SRV, MX (``mail``) and TXT as the lookups
make them, with the same TTLs (the service's ``ttl`` or the plugin's; a lease's
countdown is not zone data) and SRV weights. A host that is a name becomes a
CNAME, alone at its name (zone data allows nothing beside a CNAME), unless it has a port
or is a mail service: then it makes SRV (and MX) records and no CNAME; in a reverse zone
it is a PTR, as PTR queries answer. The apex
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

import socket
import struct

import dns.name
import dns.rdataclass

from skydns.msg import path
from skydns.msg.records import LEAF
from skydns.plugin.etcd.reader import Reader
from skydns.query import wire
from skydns.query.answers import rules as lk
from skydns.query.dnsutil import txt_wire
from skydns.query.zones import WILDCARDS, strip_labels

_TAIL = struct.Struct("!HHIH").pack
_SRV = struct.Struct("!HHH").pack
_MX = struct.Struct("!H").pack
_SOA = struct.Struct("!IIIII").pack
IN = dns.rdataclass.IN
REVERSE = (".in-addr.arpa.", ".ip6.arpa.")


def _rdata(rec: lk.Rec) -> bytes:
    t, d = rec.rtype, rec.data
    if t == lk.A:
        return socket.inet_aton(d[0])
    if t == lk.AAAA:
        return socket.inet_pton(socket.AF_INET6, d[0])
    if t == lk.SRV:
        return _SRV(d[0], d[1], d[2]) + _name(d[3])
    if t == lk.MX:
        return _MX(d[0]) + _name(d[1])
    if t in (lk.CNAME, lk.NS, lk.PTR):
        return _name(d[0])
    if t == lk.TXT:
        return txt_wire(d[0])
    if t == lk.SOA:
        return _name(d[0]) + _name(d[1]) + _SOA(*d[2:])
    if t in (lk.HTTPS, lk.SVCB):
        return _MX(d[0]) + _name(d[1]) + d[2]
    raise ValueError(f"no zone data of type {t}")


#: Names written lately (a transfer writes each owner twice: as owner and as its SRV's target); bounded.
_NAMES: dict[str, bytes] = {}


def _name(text: str) -> bytes:
    """Wire form of a name (lower case), through dnspython when it needs escaping."""
    data = _NAMES.get(text)
    if data is not None:
        return data
    try:
        data = wire.encode_name(text.lower())
    except (UnicodeEncodeError, ValueError):
        data = dns.name.from_text(text).canonicalize().to_wire() or b""
    if len(_NAMES) >= 4096:
        _NAMES.clear()
    _NAMES[text] = data
    return data


def encode(recs: list[lk.Rec]) -> tuple[bytes, ...]:
    """Records as sorted, unique wire RRs; each RRset (owner and type) takes its smallest TTL, as in answers."""
    if not recs:
        return ()
    ttls: dict[tuple, int] = {}
    for rec in recs:
        key = (rec.owner, rec.rtype)
        if key not in ttls or rec.ttl < ttls[key]:
            ttls[key] = rec.ttl
    owners: dict[str, bytes] = {}
    out = set()
    for rec in recs:
        owner = owners.get(rec.owner)
        if owner is None:
            owner = owners[rec.owner] = _name(rec.owner)
        data = _rdata(rec)
        out.add(owner + _TAIL(rec.rtype, IN, ttls[(rec.owner, rec.rtype)], len(data)) + data)
    return tuple(sorted(out))


def _one_address(name: str, s, lookup) -> list | None:
    """The records of a name holding one plain address service (the most common name of a large zone):
    its address and its SRV, as the general path below makes them (tests/plugin/etcd/test_zonedata.py
    compares the two); None for anything else."""
    if s.kind not in ("A", "AAAA") or s.text or s.mail or s.alpn or s.service == "https" or name.endswith(REVERSE):
        return None
    ttl = lookup.ttl(s)
    weight = 100 if s.weight else 0  # srv_records: 100 * weight // the priority's total (its own weight)
    return [lk.Rec(name, lk.A if s.kind == "A" else lk.AAAA, (s.host,), ttl),
            lk.Rec(name, lk.SRV, (s.priority, weight, s.port, strip_labels(s.name, s.targetstrip)), ttl)]


def _one_address_rrs(name: str, s, lookup) -> tuple[bytes, ...] | None:
    """:func:`encode` of :func:`_one_address`'s two records, written straight from the service."""
    if s.kind not in ("A", "AAAA") or s.text or s.mail or s.alpn or s.service == "https" or name.endswith(REVERSE):
        return None
    ttl = lookup.ttl(s)
    owner = _name(name)
    if s.kind == "A":
        address = owner + _TAIL(lk.A, IN, ttl, 4) + socket.inet_aton(s.host)
    else:
        address = owner + _TAIL(lk.AAAA, IN, ttl, 16) + socket.inet_pton(socket.AF_INET6, s.host)
    target = _name(strip_labels(s.name, s.targetstrip))
    srv = owner + _TAIL(lk.SRV, IN, ttl, 6 + len(target)) + _SRV(s.priority, 100 if s.weight else 0, s.port) + target
    return (address, srv) if address < srv else (srv, address)


class ZoneData:
    """Zone data of one etcd plugin's zones, rendered on demand from its copy."""

    def __init__(self, copy, settings: lk.Settings, serial=None):
        self.copy = copy
        self.settings = settings
        self.serial_of = serial or copy.serial  # the served serial (skydns.plugin.etcd.serial)
        # every address (a transfer is not filtered by health), a key's own TTL (not its lease's countdown)
        self.reader = Reader(copy)
        self.lookup = lk.Rules(self.reader.services, settings, ttl=lambda s: s.ttl or settings.ttl,
                               serial=self.serial_of)
        self._walked: tuple | None = None  # (name, index node) last yielded by names()

    def names(self, zone: str):
        """Every owner name of ``zone``'s data: the apex, then each key's name under it (key order).

        A generator: a large zone is walked a piece at a time by whoever iterates it.
        """
        labels = path.name_labels(zone)
        yield zone
        node = self.copy.index.root
        for label in labels:
            node = (node.children or {}).get(label)
            if node is None:
                return
        stack = [(node, list(labels))]
        while stack:
            n, at = stack.pop()
            children = n.children
            if at != labels and (n.record is not None or (children and any(
                    child.record is not None and LEAF.match(label) for label, child in children.items()))):
                name = path.labels_to_name(at)
                self._walked = (name, n)  # rrs(name), asked next, needs no walk of its own
                yield name
            if children:
                for label in sorted(children, reverse=True):
                    if label not in WILDCARDS:
                        stack.append((children[label], at + [label]))

    def own(self, name: str) -> list:
        """The services at ``name`` and its ``x<n>`` leaves (groups and duplicates as the lookups treat them)."""
        walked, self._walked = self._walked, None  # once: right after names() yielded it, nothing changed since
        if walked is not None and walked[0] == name:
            return self.reader.own_at([walked[1]])
        return self.reader.own(name)

    def rrs(self, zone: str, name: str) -> tuple[bytes, ...]:
        """The zone data at ``name`` as sorted wire RRs (empty when there is none), the SOA aside."""
        lookup = self.lookup
        recs: list[lk.Rec] = []
        if name == zone:
            r = lk.Result()
            lookup.ns_records(r, zone)
            recs.extend(r.answer)  # dns/ns, or ns.dns.<zone> without it, as queries answer
            apex = lookup.services("apex.dns." + (zone if zone != "." else ""), exact=True) or []
            for s in apex:
                if s.kind in ("A", "AAAA"):
                    recs.append(lk.Rec(zone, lk.A if s.kind == "A" else lk.AAAA, (s.host,), lookup.ttl(s)))
        if name != zone:
            svcs = self.own(name)
            if len(svcs) == 1:
                plain = _one_address_rrs(name, svcs[0], lookup)
                if plain is not None:
                    return plain
            recs.extend(self.records(name, svcs))
        return encode(recs)

    def records(self, name: str, svcs: list) -> list[lk.Rec]:
        """The records of ``svcs`` (the services of ``name``), as SkyDNS answers for that name.

        Services whose host is a name and that say nothing more (no port, not mail) make a
        CNAME, alone at the name; other name hosts make SRV (and MX for mail) records. Under
        ``in-addr.arpa``/``ip6.arpa`` a name host is a PTR instead.
        """
        lookup = self.lookup
        if len(svcs) == 1:
            plain = _one_address(name, svcs[0], lookup)
            if plain is not None:
                return plain
        recs: list[lk.Rec] = []
        if name.endswith(REVERSE):  # a reverse name's name hosts are its PTRs, as a PTR query answers
            recs = [lk.Rec(name, lk.PTR, (s.host,), lookup.ttl(s)) for s in svcs if s.kind == "CNAME"]
            svcs = [s for s in svcs if s.kind != "CNAME"]
        aliases = [s for s in svcs if s.kind == "CNAME" and not s.port and not s.mail]
        if aliases and len(aliases) == len([s for s in svcs if s.kind]) and not any(s.text for s in svcs):
            return [lk.Rec(name, lk.CNAME, (aliases[0].host,), lookup.ttl(aliases[0]))]
        svcs = [s for s in svcs if s not in aliases]
        for s in svcs:
            if s.kind in ("A", "AAAA"):
                recs.append(lk.Rec(name, lk.A if s.kind == "A" else lk.AAAA, (s.host,), lookup.ttl(s)))
        r = lk.Result()
        lookup.srv_records(r, name, svcs)
        lookup.mx_records(r, name, svcs)
        lookup.svcb_records(r, name, lk.HTTPS, svcs)
        texts = [s for s in svcs if s.text]
        lookup.txt_records(r, r.answer, name, name, [s for s in texts if s.kind != "CNAME"], [name])
        recs.extend(rec for rec in r.answer if rec.owner == name)
        return recs

    def owners(self, zone: str, name: str) -> list[str]:
        """The owners whose records a change of the key at ``name`` may alter: the name, the name a
        ``x<n>`` leaf belongs to, and the apex for ``dns/ns`` and ``dns/apex`` keys."""
        names = [name]
        first, _, parent = name.partition(".")
        if LEAF.match(first) and parent:
            names.append(parent)  # x1.db: a record of db
        if name.endswith(".dns." + zone) or name.endswith(".dns."):
            names.append(zone)  # dns/ns and dns/apex keys make the apex's NS and addresses
        return names

    def serial(self, zone: str) -> int:
        return self.serial_of(zone)

    def soa(self, zone: str, serial: int | None = None) -> bytes:
        """The zone's SOA as a wire RR (with ``serial`` instead of the current one, for IXFR's old versions)."""
        rec = self.lookup.soa(zone, self.settings.ttl)
        if serial is not None:
            rec = lk.Rec(rec.owner, rec.rtype, rec.data[:2] + (serial,) + rec.data[3:], rec.ttl)
        return encode([rec])[0]
