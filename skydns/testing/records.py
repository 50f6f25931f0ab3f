"""A small authoritative zone of fixed records, to put behind a plugin under test (``records``)."""
from __future__ import annotations

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone
from zope.interface import implementer

from skydns.interfaces import IHandler, IPluginSetup
from skydns.query.chain import next_or_failure
from skydns.query.rcode import NXDOMAIN
from skydns.query.zones import in_zones


@implementer(IHandler)
class Records:
    """Answers authoritatively for its zones from fixed records; other names go to the next plugin."""

    name = "records"

    def __init__(self, zones: dict[str, dns.zone.Zone], next=None):
        self.zones = zones
        self.next = next

    def serve(self, request):
        origin = in_zones(request.qname, self.zones)
        if origin is None:
            return next_or_failure(self.name, self.next, request)
        zone = self.zones[origin]
        reply = request.reply(authoritative=True)
        name = dns.name.from_text(request.qname)
        node = zone.get_node(name)
        if node is None:
            reply.set_rcode(NXDOMAIN)
        else:
            asked = request.message.question[0].name
            for rdtype in (request.qtype, dns.rdatatype.CNAME):
                found = node.get_rdataset(dns.rdataclass.IN, rdtype)
                if found is not None:
                    rrset = dns.rrset.RRset(asked, dns.rdataclass.IN, rdtype)
                    rrset.update(found)
                    reply.answer.append(rrset)
                    break
        if not reply.answer:
            apex = dns.name.from_text(origin)
            soa = zone.find_rdataset(apex, dns.rdatatype.SOA)
            rrset = dns.rrset.RRset(apex, dns.rdataclass.IN, dns.rdatatype.SOA)
            rrset.update(soa)
            reply.authority.append(rrset)
        return reply


@implementer(IPluginSetup)
class RecordsSetup:
    """``records ZONE { RECORD... }``: a zone of fixed records, one per line in zone-file form
    (``www 60 IN A 192.0.2.1``, names relative to ZONE); an SOA is made when none is given.
    Several ``records`` directives make several zones. Add it with :func:`registry`."""

    name = "records"
    position = None

    def parse(self, d, block):
        zones = {}
        while d.next():
            args = d.zones(d.remaining_args())
            if len(args) != 1:
                raise d.arg_error()
            origin = args[0]
            lines = [" ".join([d.val] + d.remaining_args()) for _ in d.block()]
            if not any(" SOA " in f" {line} " for line in lines):
                lines.insert(0, f"@ 60 IN SOA ns.{origin} hostmaster.{origin} 1 7200 3600 86400 30")
            try:
                zones[origin] = dns.zone.from_text("\n".join(lines) + "\n", origin, relativize=False,
                                                  check_origin=False)
            except Exception as e:
                raise d.error(f"bad records for {origin}: {e}") from e
        return zones

    def build(self, zones, block, next):
        return Records(zones, next)
