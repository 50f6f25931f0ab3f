"""dnssec: sign answers for the zone when the query has the DO bit.

Every RRset in the answer and authority sections owned inside the zone gets
an RRSIG; NXDOMAIN and NODATA get NSEC3 white lies, signed; DNSKEY and
NSEC3PARAM are answered at the apex. Without DO nothing changes. Records
from elsewhere (an external CNAME target's answer) are left unsigned. The
closest encloser of an NXDOMAIN comes from the block's record sources (the
etcd plugin), so a proof never denies a name that exists.
"""
from __future__ import annotations

import struct
import time
from collections import OrderedDict

import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from zope.interface import implementer

from skydns.interfaces import IHandler, IMetrics, IRecordSource
from skydns.query.chain import next_or_failure, post_process
from skydns.query.zones import in_zones

DNSKEY, NSEC3PARAM = dns.rdatatype.DNSKEY, dns.rdatatype.NSEC3PARAM
#: A signed reply is reused for at most this long (its signatures are valid a week).
REUSE = 24 * 3600


@implementer(IHandler, IMetrics)
class DNSSEC:
    name = "dnssec"

    def __init__(self, signers: dict, next=None, capacity: int = 10000, clock=time.time, server: str = ""):
        self.signers = signers  # zone -> Signer
        self.zones = list(signers)
        self.next = next
        self.server = server  # the block's name, for metric labels
        self.sources: list = []  # the block's record sources (IRecordSource), for closest enclosers
        #: unsigned reply (bytes after the ID) -> (signed reply after the ID, when signed): a reply
        #: that comes back the same is not parsed, signed and rendered again
        self.replies: OrderedDict = OrderedDict()
        self.capacity = capacity
        self.clock = clock

    def attach(self, block) -> None:
        self.sources = block.find(IRecordSource)

    def collect(self, prefix: str):
        """Signatures made and reused, and the signature cache's size, per zone (IMetrics)."""
        made = CounterMetricFamily(prefix + "dnssec_signatures_made", "RRSIGs computed (signature cache misses).",
                                   labels=["server", "zone"])
        hits = CounterMetricFamily(prefix + "dnssec_cache_hits", "RRSIGs taken from the signature cache.",
                                   labels=["server", "zone"])
        size = GaugeMetricFamily(prefix + "dnssec_cache_entries", "RRSIGs held by the signature cache.",
                                 labels=["server", "zone", "type"])
        for zone, signer in self.signers.items():
            made.add_metric([self.server, zone], signer.made)
            hits.add_metric([self.server, zone], signer.hits)
            size.add_metric([self.server, zone, "signature"], len(signer.cache))
        replies = GaugeMetricFamily(prefix + "dnssec_reply_cache_entries", "Signed replies kept for repeats.",
                                    labels=["server"])
        replies.add_metric([self.server], len(self.replies))
        return (made, hits, size, replies)

    def serve(self, request):
        zone = in_zones(request.qname, self.zones)
        if zone is None:
            return next_or_failure(self.name, self.next, request)
        signer = self.signers[zone]
        if request.qname == zone and request.qtype in (DNSKEY, NSEC3PARAM):
            reply = request.reply(authoritative=True)
            rrset = signer.dnskeys if request.qtype == DNSKEY else signer.param
            reply.answer.append(rrset)
            if request.do:
                reply.answer.append(signer.sign(rrset))
            return reply
        if not request.do:
            return next_or_failure(self.name, self.next, request)
        result = next_or_failure(self.name, self.next, request)
        return post_process(result, lambda reply: self._sign(reply, request, signer))

    def _exists(self, name: dns.name.Name) -> bool:
        text = name.to_text().lower()
        return any(s.synced and s.exists(text) for s in self.sources)

    def _closest_encloser(self, qname: dns.name.Name, signer) -> dns.name.Name:
        name = qname.parent()
        while name != signer.origin and name.is_subdomain(signer.origin):
            if self._exists(name):
                return name
            name = name.parent()
        return signer.origin

    def _sign(self, reply, request, signer):
        if reply.has_wire:
            key = reply.wire[2:]
            seen = self.replies.get(key)
            now = self.clock()
            if seen is not None and now - seen[1] < REUSE:
                self.replies.move_to_end(key)
                return struct.pack("!H", request.id) + seen[0]
            signed = self._sign_message(reply.message, request, signer)
            if signed is None:
                return reply.wire
            data = signed.to_wire(max_size=65535)
            self.replies[key] = (data[2:], now)
            while len(self.replies) > self.capacity:
                self.replies.popitem(last=False)
            return data
        signed = self._sign_message(reply.message, request, signer)
        return reply.result if signed is None else signed

    def _sign_message(self, msg, request, signer):
        """The message with signatures and denial proofs, or None when it is not ours to sign."""
        rcode = msg.rcode()
        if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or not msg.flags & dns.flags.AA:
            return None  # not our authoritative data: leave it as it is
        qname = msg.question[0].name
        soa = next((r for r in msg.authority if r.rdtype == dns.rdatatype.SOA), None)
        ttl = soa.ttl if soa is not None else 30
        if rcode == dns.rcode.NXDOMAIN:
            msg.authority.extend(signer.nxdomain(qname, self._closest_encloser(qname, signer), ttl))
        elif not msg.answer:
            msg.authority.extend(signer.nodata(qname, request.qtype, ttl))
        for section in (msg.answer, msg.authority):
            signatures = [signer.sign(r) for r in section
                          if r.rdtype != dns.rdatatype.RRSIG and r.name.is_subdomain(signer.origin)]
            section.extend(signatures)
        return msg
