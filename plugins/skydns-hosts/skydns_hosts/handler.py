"""hosts in the chain: A, AAAA and PTR from the entries, through skydns's shared answer builder."""
from __future__ import annotations

from zope.interface import implementer

from skydns.interfaces import IHandler
from skydns.query import wire
from skydns.query.answers import Answers, Result
from skydns.query.chain import next_or_failure
from skydns.query.rcode import NXDOMAIN
from skydns.query.zones import falls_through, in_zones

A, AAAA, PTR = 1, 28, 12


@implementer(IHandler)
class Hosts:
    name = "hosts"

    def __init__(self, answers: Answers, fallthrough: list[str] | None, next=None):
        self.answers = answers
        self.zones = answers.zones
        self.fallthrough = fallthrough  # None: never; [] every zone; else those zones
        self.next = next

    def serve(self, request):
        qname = request.qname
        if request.qtype == PTR and (qname.endswith(".in-addr.arpa.") or qname.endswith(".ip6.arpa.")):
            result = self.answers.ptr(request)
            if result is not None:
                return self.answers.respond(request, result, None)
            return next_or_failure(self.name, self.next, request)  # PTR zones need not be ours (CoreDNS)
        zone = in_zones(qname, self.zones)
        if zone is None:
            return next_or_failure(self.name, self.next, request)
        if request.qtype in (wire.TYPE_AXFR, wire.TYPE_IXFR):
            return wire.transfer_refusal(request)  # entries are not a zone to transfer
        if request.qtype in (A, AAAA):
            result = self.answers.lookup(request, zone)
        else:  # hosts knows addresses only: NODATA for a name it has, NXDOMAIN otherwise
            known = self.answers.rules.services(qname) is not None
            result = Result(rcode=0 if known else NXDOMAIN, soa=True)
        if result.rcode == NXDOMAIN and falls_through(qname, self.fallthrough):
            return next_or_failure(self.name, self.next, request)
        return self.answers.respond(request, result, zone)
