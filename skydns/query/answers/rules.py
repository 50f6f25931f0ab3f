"""SkyDNS's rules: what each query type answers from a name's services (CoreDNS's backend_lookup.go).

Works on plain records (:class:`Rec`) so the rules stay readable; :mod:`.render`
and :mod:`.message` turn them into a DNS message. The services come from a record
source's ``services(name, exact)`` (:class:`skydns.interfaces.IRecordSource`):
groups, duplicates and health already applied there. Targets outside the
served zones are not resolved here: they are returned as :class:`External`
needs, which :class:`skydns.query.answers.Answers` resolves through the server
and splices in.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import dns.rdatatype

from skydns.msg.service import Service
from skydns.query.answers import servicenames as names
from skydns.query.answers import svcb
from skydns.query.zones import in_zones, strip_labels

_T = dns.rdatatype.RdataType
A, NS, CNAME, SOA, PTR, HINFO, MX, TXT, AAAA, SRV, ANY = (_T.A, _T.NS, _T.CNAME, _T.SOA, _T.PTR, _T.HINFO, _T.MX,
                                                          _T.TXT, _T.AAAA, _T.SRV, _T.ANY)
SVCB, HTTPS = _T.SVCB, _T.HTTPS
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
    """A name outside our zones to resolve through the server; ``cname`` goes before its answer.

    ``via``: the CNAMEs inside the zones that led to ``cname`` (a.zone -> b.zone -> outside): they
    go in with it when the outside name resolves, and are left out with it when it does not.
    """

    target: str
    qtype: int
    cname: Rec | None
    section: str  # "answer" or "additional"
    skip_cnames: bool = False
    via: list = field(default_factory=list)


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
    """The options that shape answers (the etcd directive's, or another record source's)."""

    zones: list[str]
    ttl: int = 3600
    min_ttl: int = 30
    hostmaster: str = ""
    local: str | None = None


class Rules:
    """SkyDNS's answers over one record source.

    ``services(name, exact)`` is the source's (None: no such name); ``ttl(service)`` the
    TTL a service is answered with (default: its own ``ttl``, else ``settings.ttl``; the
    etcd plugin counts a lease down); ``serial(zone)`` the SOA serial (default 1).
    """

    def __init__(self, services: Callable[[str, bool], list[Service] | None], settings: Settings,
                 ttl: Callable[[Service], int] | None = None, serial: Callable[[str], int] | None = None):
        self._services = services
        self.s = settings
        self._ttl = ttl
        self._serial = serial
        self.deps: list | None = None  # names looked at for the answer being built
        self._soas: dict[tuple, Rec] = {}  # (zone, ttl, serial) -> the SOA: every denial of a flood has one

    # -- services -------------------------------------------------------------
    def services(self, name: str, exact: bool = False) -> list[Service] | None:
        """Services for ``name`` (its key and everything below it); None if the name does not exist."""
        if self.deps is not None:
            self.deps.append(name)
        return self._services(name, exact)

    def ttl(self, s: Service) -> int:
        """The TTL ``s`` is answered with."""
        if self._ttl is not None:
            return self._ttl(s)
        return s.ttl or self.s.ttl

    # -- per type -------------------------------------------------------------
    def answer(self, qname: str, qtype: int, zone: str, deps: list | None = None) -> Result:
        """Everything for a query whose name is in ``zone``; every name looked at goes into ``deps``."""
        outer, self.deps = self.deps, deps
        try:
            return self._answer(qname, qtype, zone)
        finally:
            self.deps = outer

    def _answer(self, qname: str, qtype: int, zone: str) -> Result:
        if qname[0] == "_" or "._" in qname:  # _http._tcp.web, DNS-SD's names (only these pay for the test)
            named = self._service_name(qname, qtype, zone)
            if named is not None:
                return named
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
            self.srv_records(r, qname, svcs)
        elif qtype == MX:
            svcs = self.services(lookup_name)
            if svcs is None:
                return self._missing(r, qname, zone)
            self.mx_records(r, qname, svcs)
        elif qtype == TXT:
            svcs = self.services(lookup_name)
            if svcs is None:
                return self._missing(r, qname, zone)
            self.txt_records(r, r.answer, qname, lookup_name, svcs, [qname])
        elif qtype == CNAME:
            svcs = self.services(lookup_name, exact=True)
            if svcs is None:
                return self._missing(r, qname, zone)
            for s in svcs:
                if s.kind == "CNAME":
                    r.answer.append(Rec(qname, CNAME, (s.host,), self.ttl(s)))
                    break
        elif qtype in (HTTPS, SVCB):
            svcs = self.services(lookup_name)
            if svcs is None:
                return self._missing(r, qname, zone)
            self.svcb_records(r, qname, qtype, svcs)
        elif qtype == NS and qname == zone:
            self.ns_records(r, zone)
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
        inner(found, target, sub, chain + [target])
        if found:  # answered inside the zones (outside targets further on carry their own hops)
            out.append(cname)
            out.extend(found)
            return True
        if len(r.externals) > mark:  # only outside names further on: this hop stands or falls with them
            for ext in r.externals[mark:]:
                ext.via.insert(0, cname)
            return True
        return False

    def txt_records(self, r: Result, out: list, owner: str, name: str, svcs, chain: list[str]) -> bool:
        found = False
        seen = set()
        for s in svcs:
            if s.text:
                if s.text not in seen:
                    seen.add(s.text)
                    out.append(Rec(owner, TXT, (s.text,), self.ttl(s)))
                    found = True
            elif s.kind == "CNAME":
                inner = lambda o, n, sub, c: self.txt_records(r, o, n, n, sub, c)  # noqa: E731
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

    def srv_records(self, r: Result, qname: str, svcs) -> None:
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

    def mx_records(self, r: Result, qname: str, svcs) -> None:
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

    def svcb_records(self, r: Result, qname: str, qtype: int, svcs) -> None:
        """HTTPS (or SVCB) records of the services offering HTTPS (:mod:`.svcb`)."""
        for priority, target, params, s in svcb.records(svcs):
            r.answer.append(Rec(qname, _T(qtype), (priority, target, params), self.ttl(s)))

    def _service_name(self, qname: str, qtype: int, zone: str) -> Result | None:
        """Names made from the services' ``service`` and ``proto`` (:mod:`.servicenames`); None when ``qname``
        is not one of them, or has keys of its own."""
        parsed = names.parse(qname, zone)
        if parsed is None or self.services(qname) is not None:
            return None
        kind, service, proto, where = parsed
        r = Result()
        if kind == "browse":
            offered = [s for s in self.services(zone) or [] if s.service]
            if not offered:
                return self._missing(r, qname, zone)
            if qtype == PTR:
                ttl = min(self.ttl(s) for s in offered)
                for sv, pr in sorted({(s.service, s.proto) for s in offered}):
                    r.answer.append(Rec(qname, PTR, (f"_{sv}._{pr}.{zone}",), ttl))
        else:
            svcs = names.offering(self.services(where) or [], service, proto)
            if kind == "instance":
                svcs = [s for s in svcs if names.instance_of(s.name) == where]
            if not svcs:
                return self._missing(r, qname, zone)
            if qtype == SRV:
                self.srv_records(r, qname, svcs)
            elif qtype == PTR and kind == "type" and where == zone:
                ttl = min(self.ttl(s) for s in svcs)
                for instance in dict.fromkeys(names.instance_of(s.name) for s in svcs):
                    r.answer.append(Rec(qname, PTR, (f"{names.instance_label(instance, zone)}.{qname}",), ttl))
            elif qtype == TXT and kind == "instance":  # DNS-SD: every instance has a TXT record
                ttl = min(self.ttl(s) for s in svcs)
                for text in dict.fromkeys(s.text for s in svcs if s.text) or [""]:
                    r.answer.append(Rec(qname, TXT, (text,), ttl))
        if not r.answer:
            r.soa = True
        return r

    def ns_records(self, r: Result, zone: str) -> None:
        """The apex's NS set: the addresses under ``dns/ns`` (with glue), else ``ns.dns.<zone>`` (the SOA's
        MNAME) alone: a zone has NS records, and queries and transfers tell the same ones."""
        ns = "ns.dns." + (zone if zone != "." else "")
        svcs = self.services(ns) or []
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
        if not seen:
            r.answer.append(Rec(zone, NS, (ns,), self.s.ttl))

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
        serial = self._serial(zone) if self._serial is not None else 1
        key = (zone, ttl, serial)
        rec = self._soas.get(key)
        if rec is not None:
            return rec
        apex = zone if zone != "." else ""
        if self.s.hostmaster:
            mbox = self.s.hostmaster.replace("@", ".")
            mbox = mbox if mbox.endswith(".") else mbox + "."
        else:
            mbox = "hostmaster." + apex
        rec = Rec(zone, SOA, ("ns.dns." + apex, mbox, serial, 28800, 7200, 604800, self.s.min_ttl), ttl)
        if len(self._soas) >= 64:  # serials and lease TTLs move on: the old ones are never asked for again
            self._soas.clear()
        self._soas[key] = rec
        return rec
