"""any: the minimal answer to ANY queries that RFC 8482 allows (as CoreDNS's any plugin).

An ANY query gets one HINFO record, ``"RFC8482" ""`` with TTL 8482, for the
query name, instead of every record the name has: ANY answers are a favourite
of amplification attacks. Other queries go on down the chain. The reply is
written as bytes, pointing back at the question the client sent.
"""
from __future__ import annotations

from zope.interface import implementer

from skydns.interfaces import IRawTransparent
from skydns.query import wire
from skydns.query.chain import next_or_failure

TYPE_ANY, TYPE_HINFO = 255, 13
TTL = 8482
_HINFO_RDATA = b"\x07RFC8482\x00"  # CPU "RFC8482", OS ""


@implementer(IRawTransparent)
class Any:
    """Raw-transparent: it passes a query on or not by its bytes alone and never changes what comes
    back, so a cache behind it may answer repeated query bytes on the raw path."""

    name = "any"

    @staticmethod
    def raw_passes(query: bytes) -> bool:
        """Not an ANY query (IRawTransparent): the type after the question's name."""
        end = query.find(b"\x00", 12)
        return end < 0 or query[end + 1:end + 3] != b"\x00\xff"

    def __init__(self, next=None):
        self.next = next

    def serve(self, request):
        if request.qtype != TYPE_ANY:
            return next_or_failure(self.name, self.next, request)
        owner = wire.POINTER_TO_QNAME if request.qname != "." else b"\x00"
        answer = owner + wire.RR_TAIL.pack(TYPE_HINFO, wire.CLASS_IN, TTL, len(_HINFO_RDATA)) + _HINFO_RDATA
        has_opt = request.edns >= 0
        header = wire.HEADER.pack(request.id, wire.reply_flags(request.flags, 0), 1, 1, 0, 1 if has_opt else 0)
        reply = header + request.question_wire + answer
        return reply + wire.opt_record(request.do) if has_opt else reply
