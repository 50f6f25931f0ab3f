"""SkyDNS answers from services: what each query type returns (the job of CoreDNS's backend_lookup.go).

Works on plain records (:class:`Rec`) so the rules stay readable; the handler
turns them into a DNS message. Targets outside the served zones are not
resolved here: they are returned as :class:`External` needs, which the
handler resolves through the server and splices in.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import dns.rdatatype

from skydns.msg import path
from skydns.msg.service import Service
from skydns.query.zones import in_zones, strip_labels

_T = dns.rdatatype.RdataType
A, NS, CNAME, SOA, PTR, HINFO, MX, TXT, AAAA, SRV, ANY = (_T.A, _T.NS, _T.CNAME, _T.SOA, _T.PTR, _T.HINFO, _T.MX,
                                                          _T.TXT, _T.AAAA, _T.SRV, _T.ANY)
MAX_CNAME_CHAIN = 8


@dataclass(frozen=True)
class Rec:
    """One record: owner (lower case unless it is the query name), type, data, TTL."""

    owner: str
    rtype: dns.rdatatype.RdataType
    data: tuple
    ttl: int


@dataclass
class External:
    """A name outside our zones to resolve through the server; ``cname`` goes before its answer."""

    target: str
    qtype: int
    cname: Rec | None
    section: str  # "answer" or "additional"
    skip_cnames: bool = False


@dataclass
class Result:
    rcode: int = 0  # 0 NOERROR, 3 NXDOMAIN
    answer: list[Rec] = field(default_factory=list)
    additional: list[Rec] = field(default_factory=list)
    externals: list[External] = field(default_factory=list)
    authoritative: bool = True
    soa: bool = False  # put the zone's SOA in authority (NXDOMAIN / NODATA)
    upstream_answer: list = field(default_factory=list)  # RRsets resolved through the server
    upstream_additional: list = field(default_factory=list)


@dataclass
class Settings:
    """The etcd directive's options that shape answers."""

    zones: list[str]
    ttl: int = 3600
    min_ttl: int = 30
    hostmaster: str = ""
    local: str | None = None
    min_lease_ttl: int = 0  # a leased key's TTL is kept within these (CoreDNS's min-lease-ttl, max-lease-ttl)
    max_lease_ttl: int = 86400


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


class Lookup:
    """Answers for one etcd plugin: its copy (index, leases, serials) and its settings."""

    def __init__(self, copy, settings: Settings, monitor=None):
        self.copy = copy
        self.s = settings
        self.monitor = monitor  # an EtcdCopy of health-monitor status keys, or None
        self.failed_open: set[str] = set()
        self.deps: list | None = None  # names looked at for the answer being built

    # -- services -------------------------------------------------------------
    def services(self, name: str, exact: bool = False) -> list[Service] | None:
        """Services for ``name`` (its key and everything below it); None if the name does not exist."""
        if self.deps is not None:
            self.deps.append(name)
        labels = path.name_labels(name)
        index = self.copy.index
        if exact:
            found = index.lookup(labels, exact=True)
            if not found and not index.exists(labels):
                return None
            return dedupe(found)
        found = index.lookup(labels)
        if not found:
            return None
        svcs = dedupe(group_filter(found))
        if self.monitor is not None and self.monitor.down:
            svcs = self._alive(name, svcs)
        return svcs

    def _alive(self, name: str, svcs: list[Service]) -> list[Service]:
        """Leave out addresses the monitor says are DOWN, unless all of them are (fail open)."""
        down = self.monitor.down
        alive = [s for s in svcs if not (s.kind in ("A", "AAAA") and s.host in down)]
        if len(alive) == len(svcs):
            return svcs
        if any(s.kind in ("A", "AAAA") for s in alive):
            self.failed_open.discard(name)
            return alive
        if name not in self.failed_open:
            self.failed_open.add(name)
            from twisted.logger import Logger
            Logger(namespace="skydns.plugin.etcd").warn(
                "every address of {name} is DOWN: answering with all of them", name=name)
        return svcs

    def ttl(self, s: Service) -> int:
        ttl = s.ttl or self.s.ttl
        if s.lease:
            left = self.copy.lease_ttl(s.lease)
            if left is not None:
                left = min(max(left, self.s.min_lease_ttl), self.s.max_lease_ttl)
                if left < ttl:
                    ttl = left
        return ttl

    # -- per type -------------------------------------------------------------
    def answer(self, qname: str, qtype: int, zone: str, deps: list | None = None) -> Result:
        """Everything for a query whose name is in ``zone``; every name looked at goes into ``deps``."""
        outer, self.deps = self.deps, deps
        try:
            return self._answer(qname, qtype, zone)
        finally:
            self.deps = outer

    def _answer(self, qname: str, qtype: int, zone: str) -> Result:
        lookup_name = qname
        if self.s.local and qname == "local.dns." + (zone if zone != "." else ""):
            lookup_name = self.s.local
        r = Result()
        if qtype in (A, AAAA):
            svcs = self._apex(lookup_name, zone) if qname == zone else self.services(lookup_name)
            if svcs is None:
                return self._missing(r, qname, zone)
            self._addresses(r, r.answer, qname, lookup_name, svcs, qtype, [qname], "answer")
        elif qtype == SRV:
            svcs = self.services(lookup_name)
            if svcs is None:
                return self._missing(r, qname, zone)
            self._srv(r, qname, svcs)
        elif qtype == MX:
            svcs = self.services(lookup_name)
            if svcs is None:
                return self._missing(r, qname, zone)
            self._mx(r, qname, svcs)
        elif qtype == TXT:
            svcs = self.services(lookup_name)
            if svcs is None:
                return self._missing(r, qname, zone)
            self._txt(r, r.answer, qname, lookup_name, svcs, [qname])
        elif qtype == CNAME:
            svcs = self.services(lookup_name, exact=True)
            if svcs is None:
                return self._missing(r, qname, zone)
            for s in svcs:
                if s.kind == "CNAME":
                    r.answer.append(Rec(qname, CNAME, (s.host,), self.ttl(s)))
                    break
        elif qtype == NS and qname == zone:
            self._ns(r, zone)
        elif qtype == SOA and qname == zone:
            r.answer.append(self.soa(zone, self.s.ttl))
        elif qtype == ANY:
            if qname != zone and self.services(lookup_name) is None:
                return self._missing(r, qname, zone)
            r.answer.append(Rec(qname, HINFO, ("ANY obsoleted", "See RFC 8482"), 8482))
        else:
            if qname != zone and self.services(lookup_name) is None:
                return self._missing(r, qname, zone)
        if not r.answer and not r.externals:
            r.soa = True  # NODATA
        return r

    def _missing(self, r: Result, qname: str, zone: str) -> Result:
        if qname == zone:  # the apex always exists
            r.soa = True
            return r
        r.rcode = 3
        r.soa = True
        return r

    def _apex(self, name: str, zone: str) -> list[Service]:
        """At the apex, ``dns/apex`` holds the zone's own addresses; without it the zone aggregates."""
        apex = self.services("apex.dns." + (zone if zone != "." else ""))
        if apex:
            return apex
        return self.services(name) or []

    def _addresses(self, r: Result, out: list, owner: str, name: str, svcs, qtype: int,
                   chain: list[str], section: str) -> bool:
        """A/AAAA records for ``svcs`` (owner ``owner``), following CNAMEs; True if anything was found."""
        want, rtype = ("A", A) if qtype == A else ("AAAA", AAAA)
        seen = set()
        found = False
        for s in svcs:
            if s.kind == want:
                if s.host not in seen:
                    seen.add(s.host)
                    out.append(Rec(owner, rtype, (s.host,), self.ttl(s)))
                    found = True
            elif s.kind == "CNAME":
                inner = lambda o, n, sub, c: self._addresses(r, o, n, n, sub, qtype, c, section)  # noqa: E731
                found = self._follow(r, out, owner, name, s, chain, qtype, section, inner) or found
        return found

    def _follow(self, r: Result, out: list, owner: str, name: str, s: Service, chain: list[str],
                qtype: int, section: str, inner) -> bool:
        """A service whose host is a name: a CNAME, followed inside the zones (``inner`` answers the
        target), or handed to the server for an outside target. False when nothing came of it."""
        target = s.host
        if target == name or target in chain or len(chain) > MAX_CNAME_CHAIN:
            return False  # x CNAME x, a loop, or too long a chain
        cname = Rec(owner, CNAME, (target,), self.ttl(s))
        if in_zones(target, self.s.zones) is None:
            r.externals.append(External(target, qtype, cname, section))
            return True
        sub = self.services(target)
        if not sub:
            return False
        found: list[Rec] = []
        mark = len(r.externals)
        if inner(found, target, sub, chain + [target]) or len(r.externals) > mark:
            out.append(cname)
            out.extend(found)
            return True
        return False

    def _txt(self, r: Result, out: list, owner: str, name: str, svcs, chain: list[str]) -> bool:
        found = False
        seen = set()
        for s in svcs:
            if s.text:
                if s.text not in seen:
                    seen.add(s.text)
                    out.append(Rec(owner, TXT, (s.text,), self.ttl(s)))
                    found = True
            elif s.kind == "CNAME":
                inner = lambda o, n, sub, c: self._txt(r, o, n, n, sub, c)  # noqa: E731
                found = self._follow(r, out, owner, name, s, chain, TXT, "answer", inner) or found
        return found

    def _target_addresses(self, r: Result, target: str, looked: set) -> None:
        """Addresses of an SRV/MX/NS target in additional: internal from the copy, external through the server."""
        if target in looked:
            return
        looked.add(target)
        if in_zones(target, self.s.zones) is not None:
            sub = self.services(target)
            if sub:
                for qtype in (A, AAAA):
                    self._addresses(r, r.additional, target, target, sub, qtype, [target], "additional")
        else:
            r.externals.append(External(target, A, None, "additional"))
            r.externals.append(External(target, AAAA, None, "additional", skip_cnames=True))

    def _srv(self, r: Result, qname: str, svcs) -> None:
        totals: dict[int, int] = {}
        for s in svcs:
            if s.kind:
                totals[s.priority] = totals.get(s.priority, 0) + s.weight
        seen_srv: set[tuple] = set()
        seen_addr: set[tuple[str, str]] = set()
        looked: set[str] = set()
        for s in svcs:
            if not s.kind:
                continue  # a TXT-only service has no SRV
            total = totals[s.priority]
            weight = (100 * s.weight) // total if total else 0
            ttl = self.ttl(s)
            if s.kind == "CNAME":
                target = strip_labels(s.host, s.targetstrip)
                key = (s.priority, weight, s.port, target)
                if key not in seen_srv:
                    seen_srv.add(key)
                    r.answer.append(Rec(qname, SRV, (s.priority, weight, s.port, target), ttl))
                self._target_addresses(r, target, looked)
            else:
                target = strip_labels(s.name, s.targetstrip)
                key = (s.priority, weight, s.port, target)
                if key not in seen_srv:
                    seen_srv.add(key)
                    r.answer.append(Rec(qname, SRV, (s.priority, weight, s.port, target), ttl))
                if (target, s.host) not in seen_addr:
                    seen_addr.add((target, s.host))
                    r.additional.append(Rec(target, A if s.kind == "A" else AAAA, (s.host,), ttl))

    def _mx(self, r: Result, qname: str, svcs) -> None:
        looked: set[str] = set()
        seen_addr: set[tuple[str, str]] = set()
        for s in svcs:
            if not s.mail or not s.kind:
                continue
            ttl = self.ttl(s)
            if s.kind == "CNAME":
                target = strip_labels(s.host, s.targetstrip)
                r.answer.append(Rec(qname, MX, (s.priority, target), ttl))
                self._target_addresses(r, target, looked)
            else:
                target = strip_labels(s.name, s.targetstrip)
                r.answer.append(Rec(qname, MX, (s.priority, target), ttl))
                if (target, s.host) not in seen_addr:
                    seen_addr.add((target, s.host))
                    r.additional.append(Rec(target, A if s.kind == "A" else AAAA, (s.host,), ttl))

    def _ns(self, r: Result, zone: str) -> None:
        svcs = self.services("ns.dns." + (zone if zone != "." else "")) or []
        seen = set()
        for s in svcs:
            if s.kind not in ("A", "AAAA"):
                continue  # nameservers under dns/ns must be addresses
            target = strip_labels(s.name, s.targetstrip)
            ttl = self.ttl(s)
            if target not in seen:
                seen.add(target)
                r.answer.append(Rec(zone, NS, (target,), ttl))
            r.additional.append(Rec(target, A if s.kind == "A" else AAAA, (s.host,), ttl))

    def ptr(self, qname: str, deps: list | None = None) -> Result | None:
        """PTR from a reverse name's key; None when there is none (the query goes on)."""
        if deps is not None:
            deps.append(qname)
        svcs = self.services(qname, exact=True)
        if not svcs:
            return None
        r = Result(authoritative=False)
        for s in svcs:
            if s.kind == "CNAME":
                r.answer.append(Rec(qname, PTR, (s.host,), self.ttl(s)))
        return r if r.answer else None

    def soa(self, zone: str, ttl: int) -> Rec:
        apex = zone if zone != "." else ""
        if self.s.hostmaster:
            mbox = self.s.hostmaster.replace("@", ".")
            mbox = mbox if mbox.endswith(".") else mbox + "."
        else:
            mbox = "hostmaster." + apex
        return Rec(zone, SOA, ("ns.dns." + apex, mbox, self.copy.serial(zone), 28800, 7200, 604800,
                               self.s.min_ttl), ttl)
