"""whoami: tells the client its own address, port and transport (as CoreDNS's whoami).

The reply has an empty answer section and, in additional, an A or AAAA
record for the query name with the client's address, and an SRV record for
``_udp.<name>`` or ``_tcp.<name>`` with the client's port; TTL 0. Over DNS over
TLS the SRV is ``_tls.<name>``, over DNS over HTTPS ``_https.<name>`` (CoreDNS
says ``_tcp`` for both).

It is also the smallest example of a plugin, and answers on the fast path:
the reply is written as bytes, pointing back at the question the client
sent, with no dnspython message made.
"""
from __future__ import annotations

import socket
import struct

from zope.interface import implementer

from skydns.interfaces import IHandler
from skydns.query import wire

_PTR = wire.POINTER_TO_QNAME
_SRV_RDATA = struct.Struct("!HHH")
#: The SRV's first label by (transport, proto), and the longest question (name, type, class) whose
#: name still fits under it (255 octets at most).
_LABELS = {("dns", "udp"): b"\x04_udp", ("dns", "tcp"): b"\x04_tcp", ("tls", "tcp"): b"\x04_tls",
           ("https", "tcp"): b"\x06_https"}
_LONGEST = {key: 255 - len(label) + 4 for key, label in _LABELS.items()}


@implementer(IHandler)
class Whoami:
    name = "whoami"

    def __init__(self, next=None):
        self.next = next

    def serve(self, request):
        host, port = request.client[0], request.client[1]
        if ":" in host:
            packed = socket.inet_pton(socket.AF_INET6, host.partition("%")[0])
            rtype = 28
        else:
            packed = socket.inet_aton(host)
            rtype = 1
        qclass = request.qclass
        # The owner points back at the question's name; the root is shorter written out.
        owner = _PTR if request.qname != "." else b"\x00"
        count = 2
        key = (request.transport, request.proto)
        if len(request.question_wire) <= _LONGEST[key]:
            additional = b"".join((
                owner, wire.RR_TAIL.pack(rtype, qclass, 0, len(packed)), packed,
                _LABELS[key], owner, wire.RR_TAIL.pack(33, qclass, 0, 7),
                _SRV_RDATA.pack(0, 0, port), b"\x00",
            ))
        else:  # _udp.<name> would be longer than a name may be: the address only
            additional = owner + wire.RR_TAIL.pack(rtype, qclass, 0, len(packed)) + packed
            count = 1
        if request.edns >= 0:
            header = wire.HEADER.pack(request.id, wire.reply_flags(request.flags, 0, True), 1, 0, 0, count + 1)
            return header + request.question_wire + additional + wire.opt_record(request.do)
        header = wire.HEADER.pack(request.id, wire.reply_flags(request.flags, 0, True), 1, 0, 0, count)
        return header + request.question_wire + additional
