"""Synthesis: AAAA records made from the A records of names that have no AAAA (RFC 6147 section 5.1).

It stands in front of the cache and passes every query on. When the reply
to an AAAA query (from an IPv6 client, unless ``allow_ipv4``) has no AAAA
record, it looks the A records of the name up through the server and answers
them as AAAA records under the NAT64 prefix. It reads only what it needs of
the reply (:class:`skydns.query.reply.Reply`: the header for free, the records
when there are some) and leaves every other reply as it came.
"""
from __future__ import annotations

import ipaddress

import dns.flags
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.AAAA
import dns.rrset
from prometheus_client.core import CounterMetricFamily
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from skydns.interfaces import IHandler, IMetrics, IReadiness
from skydns.query.chain import next_or_failure, post_process
from skydns.query.dnsutil import section_ttl
from skydns.query.rcode import NOERROR, NXDOMAIN
from skydns_dns64.prefix import embed

log = Logger(namespace="skydns.plugin.dns64")
A, AAAA, SOA = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.SOA
IN = dns.rdataclass.IN
#: The TTL cap of synthesized records when the AAAA reply had no SOA (RFC 6147 5.1.7).
DEFAULT_SOA_TTL = 600


@implementer(IHandler, IMetrics)
class DNS64:
    name = "dns64"

    def __init__(self, prefix: ipaddress.IPv6Network, upstream, next=None, translate_all: bool = False,
                 allow_ipv4: bool = False, server: str = ""):
        self.prefix = prefix
        self.upstream = upstream  # skydns.query.upstream.Upstream: A lookups through the whole server
        self.next = next
        self.translate_all = translate_all
        self.allow_ipv4 = allow_ipv4
        self.server = server  # the block's name, for the metric's label
        self.translated = 0

    def serve(self, request):
        result = next_or_failure(self.name, self.next, request)
        if request.qtype != AAAA or request.qclass != IN or not (self.allow_ipv4 or ":" in request.client[0]):
            return result
        return post_process(result, lambda reply: self._after(reply, request))

    def wanted(self, reply) -> bool:
        """Does this AAAA reply call for synthesis? Never for NXDOMAIN; with ``translate_all``
        always else; otherwise when it failed or holds no AAAA record."""
        rcode = reply.rcode
        if rcode == NXDOMAIN:
            return False
        if self.translate_all or rcode != NOERROR or reply.counts[1] == 0:
            return True
        return not any(rrset.rdtype == AAAA for rrset in reply.message.answer)

    def _after(self, reply, request):
        if not self.wanted(reply):
            return reply.result
        try:
            found = self.upstream.lookup(request.qname, A, request)
        except Exception as e:
            log.debug("A lookup of {name} failed: {why}", name=request.qname, why=e)
            return reply.result
        if isinstance(found, Deferred):
            return found.addCallbacks(lambda a: self.synthesize(reply, a, request), lambda f: reply.result)
        return self.synthesize(reply, found, request)

    def synthesize(self, reply, a_reply, request):
        """The AAAA answer made from ``a_reply`` (CNAMEs kept), or the original reply when it has no A."""
        if a_reply.rcode() != NOERROR or not any(r.rdtype == A for r in a_reply.answer):
            return reply.result
        # 5.1.7: a synthesized record lives no longer than the negative answer it replaces.
        soa_ttl = section_ttl(r.ttl for r in reply.message.authority if r.rdtype == SOA) or DEFAULT_SOA_TTL
        out = request.reply()
        out.flags |= a_reply.flags & dns.flags.RA  # not authoritative: these records are made up here
        asked = out.question[0].name
        for rrset in a_reply.answer:
            owner = asked if rrset.name == asked else rrset.name  # the client's spelling of its name
            if rrset.rdtype != A:
                copy = dns.rrset.RRset(owner, rrset.rdclass, rrset.rdtype)
                copy.update(rrset)
                out.answer.append(copy)
                continue
            made = dns.rrset.RRset(owner, IN, AAAA)
            ttl = min(rrset.ttl, soa_ttl)
            for rd in rrset:
                v6 = embed(self.prefix, ipaddress.IPv4Address(rd.address).packed)
                made.add(dns.rdtypes.IN.AAAA.AAAA(IN, AAAA, str(ipaddress.IPv6Address(v6))), ttl)
            out.answer.append(made)
        out.authority.extend(a_reply.authority)
        out.additional.extend(a_reply.additional)
        self.translated += 1
        return out

    def collect(self, prefix: str):
        """``dns64_requests_translated`` (CoreDNS's name), per server block (IMetrics)."""
        family = CounterMetricFamily(prefix + "dns64_requests_translated", "AAAA answers synthesized from A records.",
                                     labels=["server"])
        family.add_metric([self.server], self.translated)
        return (family,)


@implementer(IReadiness)
class Probe:
    """With ``probe NAME``: not ready until an A lookup of NAME through the server returns an address.

    Synthesis needs working IPv4 answers; a deployment that has none yet (its
    forward upstreams unreachable, its etcd empty) should not take traffic.
    Asked at start, then every INTERVAL until it works; ready from then on.
    """

    name = "dns64"

    def __init__(self, upstream, probe: str, interval: float, reactor):
        self.upstream = upstream
        self.probe = probe
        self.interval = interval
        self.reactor = reactor
        self.ok = False
        self.why = "not asked yet"
        self.call = None
        self.running = False

    def ready(self) -> str | None:
        return None if self.ok else f"no A record for {self.probe} through the server yet ({self.why})"

    def start(self) -> None:
        self.running = True
        self._ask()

    def stop(self) -> None:
        self.running = False
        if self.call is not None and self.call.active():
            self.call.cancel()
        self.call = None

    def _ask(self) -> None:
        self.call = None
        try:
            found = self.upstream.lookup(self.probe, A)
        except Exception as e:
            self._failed(str(e) or type(e).__name__)
            return
        if isinstance(found, Deferred):
            found.addCallbacks(self._answered, lambda f: self._failed(f.getErrorMessage()))
        else:
            self._answered(found)

    def _answered(self, msg) -> None:
        if msg.rcode() == NOERROR and any(r.rdtype == A for r in msg.answer):
            self.ok = True
            log.info("dns64 ready: {name} has an A record", name=self.probe)
            return
        self._failed(f"answered {dns.rcode.to_text(msg.rcode())} without an A record")

    def _failed(self, why: str) -> None:
        self.why = why
        if self.running:
            self.call = self.reactor.callLater(self.interval, self._ask)
