"""chaos: the server's version, authors and host name for CH-class TXT queries (as CoreDNS's chaos).

``version.bind`` and ``version.server`` give the version, ``authors.bind`` one
TXT record per author, ``hostname.bind`` and ``id.server`` the host name. Other
queries go on down the chain. The answers are rendered once, at start-up, and
only the header and the question are written per query.
"""
from __future__ import annotations

from zope.interface import implementer

from skydns.interfaces import IRawTransparent
from skydns.query import wire
from skydns.query.chain import next_or_failure
from skydns.query.dnsutil import txt_wire

TYPE_TXT, CLASS_CH = 16, 3


def answers(texts: list[str]) -> tuple[int, bytes]:
    """(record count, answer section) of TXT records owned by the question's name, TTL 0."""
    out = b""
    for text in texts:
        rdata = txt_wire(text)
        out += wire.POINTER_TO_QNAME + wire.RR_TAIL.pack(TYPE_TXT, CLASS_CH, 0, len(rdata)) + rdata
    return len(texts), out


@implementer(IRawTransparent)
class Chaos:
    """Raw-transparent: it passes a query on or not by its bytes alone and never changes what comes
    back, so a cache behind it may answer repeated query bytes on the raw path."""

    name = "chaos"

    @staticmethod
    def raw_passes(query: bytes) -> bool:
        """Not of class CH (IRawTransparent): the class after the question's name and type."""
        end = query.find(b"\x00", 12)
        return end < 0 or query[end + 3:end + 5] != b"\x00\x03"

    def __init__(self, version: str, authors: list[str], hostname: str, next=None):
        self.next = next
        version_answer = answers([version])
        host_answer = answers([hostname])
        #: query name -> (count, answer section)
        self.names = {
            "version.bind.": version_answer, "version.server.": version_answer,
            "authors.bind.": answers(authors), "hostname.bind.": host_answer, "id.server.": host_answer,
        }

    def serve(self, request):
        if request.qclass != CLASS_CH or request.qtype != TYPE_TXT:
            return next_or_failure(self.name, self.next, request)
        found = self.names.get(request.qname)
        if found is None:
            return next_or_failure(self.name, self.next, request)
        count, section = found
        has_opt = request.edns >= 0
        header = wire.HEADER.pack(request.id, wire.reply_flags(request.flags, 0), 1, count, 0, 1 if has_opt else 0)
        reply = header + request.question_wire + section
        return reply + wire.opt_record(request.do) if has_opt else reply
