"""etcd: answers for its zones from the watched copy; turns lookup results into DNS messages."""
from __future__ import annotations

import dns.name
import dns.rdataclass
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.HINFO
import dns.rdtypes.ANY.MX
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.IN.SRV
import dns.rrset
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from skydns.interfaces import IHandler
from skydns.plugin.etcd import lookup as lk
from skydns.plugin.etcd.render import render as render_wire
from skydns.query import wire
from skydns.query.chain import next_or_failure
from skydns.query.dnsutil import section_ttl, txt_strings
from skydns.query.rcode import NOERROR, NXDOMAIN, REFUSED, SERVFAIL
from skydns.query.zones import in_zones

log = Logger(namespace="skydns.plugin.etcd")
IN = dns.rdataclass.IN
PTR = 12


def _name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


def rdata(rec: lk.Rec):
    t, d = rec.rtype, rec.data
    if t == lk.A:
        return dns.rdtypes.IN.A.A(IN, t, d[0])
    if t == lk.AAAA:
        return dns.rdtypes.IN.AAAA.AAAA(IN, t, d[0])
    if t == lk.SRV:
        return dns.rdtypes.IN.SRV.SRV(IN, t, d[0], d[1], d[2], _name(d[3]))
    if t == lk.CNAME:
        return dns.rdtypes.ANY.CNAME.CNAME(IN, t, _name(d[0]))
    if t == lk.TXT:
        return dns.rdtypes.ANY.TXT.TXT(IN, t, txt_strings(d[0]))
    if t == lk.MX:
        return dns.rdtypes.ANY.MX.MX(IN, t, d[0], _name(d[1]))
    if t == lk.NS:
        return dns.rdtypes.ANY.NS.NS(IN, t, _name(d[0]))
    if t == lk.PTR:
        return dns.rdtypes.ANY.PTR.PTR(IN, t, _name(d[0]))
    if t == lk.SOA:
        return dns.rdtypes.ANY.SOA.SOA(IN, t, _name(d[0]), _name(d[1]), *d[2:])
    if t == lk.HINFO:
        return dns.rdtypes.ANY.HINFO.HINFO(IN, t, d[0].encode(), d[1].encode())
    raise ValueError(f"cannot make rdata of type {t}")


def add_records(section: list, recs: list[lk.Rec], qname: str, qname_as_asked, ttl: int | None,
                one_cname_per_owner: bool = False) -> None:
    """Group records into RRsets (first-seen order), owner of the query name spelled as asked."""
    by_key: dict[tuple, dns.rrset.RRset] = {}
    for rrset in section:
        by_key[(rrset.name.to_text().lower(), rrset.rdtype)] = rrset
    for rec in recs:
        key = (rec.owner, rec.rtype)
        rrset = by_key.get(key)
        if rrset is None:
            if one_cname_per_owner and rec.rtype == lk.CNAME and (rec.owner, lk.CNAME) in by_key:
                continue
            owner = qname_as_asked if rec.owner == qname else _name(rec.owner)
            rrset = by_key[key] = dns.rrset.RRset(owner, IN, rec.rtype)
            section.append(rrset)
        elif one_cname_per_owner and rec.rtype == lk.CNAME:
            continue
        rrset.add(rdata(rec), rec.ttl if ttl is None else ttl)
        if ttl is None and rec.ttl < rrset.ttl:
            rrset.update_ttl(rec.ttl)


@implementer(IHandler)
class Etcd:
    name = "etcd"

    def __init__(self, copy, lookup: lk.Lookup, fallthrough, upstream, next=None):
        self.copy = copy
        self.lookup = lookup
        self.zones = lookup.s.zones
        self.fallthrough = fallthrough  # None: never; a list: those zones ([] for all)
        self.upstream = upstream
        self.next = next
        self.unloaded_answers = 0  # SERVFAILs given because the copy was not read yet

    def _falls_through(self, qname: str) -> bool:
        if self.fallthrough is None:
            return False
        return not self.fallthrough or in_zones(qname, self.fallthrough) is not None

    def serve(self, request):
        qname = request.qname
        if request.qclass != wire.CLASS_IN:
            # Service records are IN data: another class (CH, HS, NONE, 0) in our zones is
            # refused, as NSD and Knot do; outside them the rest of the chain decides.
            if in_zones(qname, self.zones) is not None:
                return wire.error_reply(request, REFUSED)
            return next_or_failure(self.name, self.next, request)
        if request.qtype == PTR and (qname.endswith(".in-addr.arpa.") or qname.endswith(".ip6.arpa.")) \
                and self.copy.synced:
            result = self.lookup.ptr(qname, request.dependencies)
            if result is not None:
                return self._render(request, result, None)
            # PTR is not authoritative here: with no record, the rest of the chain may know it.
            return next_or_failure(self.name, self.next, request)
        zone = in_zones(qname, self.zones)
        if zone is None:
            return next_or_failure(self.name, self.next, request)
        if not self.copy.synced:
            # Just started (or a worker just restarted): wait for the first read, briefly, rather
            # than answer SERVFAIL for what is about to be known.
            loaded = self.copy.when_loaded()
            if loaded is None:
                return self._not_loaded(request)
            return loaded.addCallback(self._after_load, request)
        result = self.lookup.answer(qname, request.qtype, zone, request.dependencies)
        if result.rcode == NXDOMAIN and self._falls_through(qname):
            return next_or_failure(self.name, self.next, request)
        if result.externals:
            return self._resolve(request, result, zone)
        return self._render(request, result, zone)

    def _render(self, request, result: lk.Result, zone: str | None):
        ttl = self._ttl(result)
        if not result.upstream_answer and not result.upstream_additional:
            soa = None
            if (result.soa or not result.answer) and zone is not None and result.rcode in (NOERROR, NXDOMAIN):
                soa = self.lookup.soa(zone, self.lookup.s.min_ttl)
            data = render_wire(request, result, soa, ttl)
            if data is not None:
                return data
        return self._render_dnspython(request, result, zone)

    def _after_load(self, loaded: bool, request):
        return self.serve(request) if loaded else self._not_loaded(request)

    def _not_loaded(self, request):
        self.unloaded_answers += 1
        if self.unloaded_answers in (1, 100, 10000) or self.unloaded_answers % 100000 == 0:
            log.warn("etcd copy of {prefix} not loaded: SERVFAIL for {qname} ({count} so far)",
                     prefix=self.copy.prefix, qname=request.qname, count=self.unloaded_answers)
        return wire.error_reply(request, SERVFAIL)

    @staticmethod
    def _ttl(result: lk.Result) -> int | None:
        """SkyDNS's rule: every record of the answer takes the smallest TTL found (SOA and HINFO keep theirs)."""
        if result.answer and result.answer[0].rtype in (lk.SOA, lk.HINFO):
            return None
        return section_ttl(r.ttl for r in result.answer + result.additional)

    def _render_dnspython(self, request, result: lk.Result, zone: str | None):
        """For answers with records from upstream (and names with escapes): build a dnspython message."""
        reply = request.reply(authoritative=result.authoritative, rcode=result.rcode)
        asked = request.message.question[0].name
        ttl = self._ttl(result)
        spliced = result.upstream_answer
        if ttl is not None and spliced:
            # SkyDNS's rule holds across what came from upstream too: a CNAME of 3600 to a name whose
            # address has 60 is answered with 60 on both
            ttl = min([ttl] + [rrset.ttl for rrset in spliced])
        add_records(reply.answer, result.answer, request.qname, asked, ttl)
        add_records(reply.additional, result.additional, request.qname, asked, ttl, one_cname_per_owner=True)
        for rrset in result.upstream_answer:
            reply.answer.append(_with_ttl(rrset, ttl))
        for rrset in result.upstream_additional:
            if not any(r.name == rrset.name and r.rdtype == rrset.rdtype for r in reply.additional):
                reply.additional.append(rrset)
        if (result.soa or not reply.answer) and zone is not None and result.rcode in (NOERROR, NXDOMAIN):
            soa = self.lookup.soa(zone, self.lookup.s.min_ttl)
            add_records(reply.authority, [soa], request.qname, asked, None)
        return reply

    def _resolve(self, request, result: lk.Result, zone: str):
        """Look external targets up through the server, then render; synchronous if they all were."""
        answers = []
        waiting = False
        for ext in result.externals:
            try:
                got = self.upstream.lookup(ext.target, ext.qtype, request)
            except Exception as e:
                got = e
            if isinstance(got, defer.Deferred):
                waiting = True
                got.addErrback(lambda f: f.value)
            answers.append(got)
        if not waiting:
            return self._splice(request, result, zone, answers)
        return defer.gatherResults(
            [a if isinstance(a, defer.Deferred) else defer.succeed(a) for a in answers]
        ).addCallback(lambda got: self._splice(request, result, zone, got))

    def _splice(self, request, result: lk.Result, zone, answers):
        up_answer: list = []
        up_additional: list = []
        for ext, got in zip(result.externals, answers, strict=True):
            if isinstance(got, BaseException) or got is None or got.rcode() != NOERROR or not got.answer:
                continue  # did not resolve: the CNAME is left out
            if ext.section == "answer":
                if ext.cname is not None:
                    result.answer.append(ext.cname)
                up_answer.extend(got.answer)
            else:
                up_additional.extend(r for r in got.answer if not (ext.skip_cnames and r.rdtype == lk.CNAME))
        result.upstream_answer = up_answer
        result.upstream_additional = up_additional
        if not result.answer and not up_answer:
            result.soa = True
        return self._render(request, result, zone)


def _with_ttl(rrset, ttl: int | None):
    """A copy of an upstream RRset with ``ttl`` (the upstream's own message is left as it was)."""
    if ttl is None or rrset.ttl == ttl:
        return rrset
    return dns.rrset.from_rdata_list(rrset.name, ttl, list(rrset))
