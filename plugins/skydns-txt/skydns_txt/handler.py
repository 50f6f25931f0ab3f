"""Answering: a dict lookup on the lower-cased query name; everything else passes on."""
from __future__ import annotations

import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
from zope.interface import implementer

from skydns.interfaces import IHandler
from skydns.query.chain import next_or_failure

TTL = 300


@implementer(IHandler)
class Txt:
    name = "txt"

    def __init__(self, records: dict[str, list[str]], next):
        self.records = {
            owner: dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [t.encode() for t in texts])
            for owner, texts in records.items()
        }
        self.next = next

    def serve(self, request):
        rdata = self.records.get(request.qname)
        if rdata is None:
            return next_or_failure(self.name, self.next, request)
        reply = request.reply(authoritative=True)
        if request.qtype in (dns.rdatatype.TXT, dns.rdatatype.ANY):
            rrset = dns.rrset.RRset(request.message.question[0].name, dns.rdataclass.IN, dns.rdatatype.TXT)
            rrset.add(rdata, TTL)
            reply.answer.append(rrset)
        return reply  # NODATA for other types of a name we own
