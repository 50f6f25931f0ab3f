"""DNS wire format for the hot path.

dnspython parses a query in about 14 us (35 us with an OPT record) and renders
an answer in 40-70 us: several times the cost of everything else a simple
answer needs. The common cases (read the question and OPT of a query; write
an error reply or a small synthesised answer) are done here on bytes, and
everything unusual is left to dnspython.
"""
from __future__ import annotations

import struct

import dns.name

from skydns.query.rcode import FORMERR

HEADER = struct.Struct("!6H")
TYPE_CLASS = struct.Struct("!HH")
#: An OPT pseudo-record after its root owner byte: type, payload size, ext-rcode/version/flags, rdlen.
OPT_TAIL = struct.Struct("!HHIH")
#: A resource record after its owner name: type, class, ttl, rdlength.
RR_TAIL = struct.Struct("!HHIH")

QR = 0x8000
OPCODE_MASK = 0x7800
OPCODE_UPDATE = 5 << 11
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080
CD = 0x0010
DO = 0x8000  # in the OPT TTL field

CLASS_IN = 1
TYPE_OPT = 41
TYPE_DS = 43

#: The UDP payload size this server advertises in its OPT records (DNS flag day 2020).
OUR_PAYLOAD = 1232
#: The largest DNS message over UDP a client without EDNS may receive.
MIN_PAYLOAD = 512

#: A compression pointer to the question's name, which always starts at offset 12.
POINTER_TO_QNAME = b"\xc0\x0c"


def reply_flags(query_flags: int, rcode: int = 0, authoritative: bool = False) -> int:
    """Header flags of a reply: QR, the query's opcode, RD and CD copied, AA as asked."""
    flags = QR | (query_flags & (OPCODE_MASK | RD | CD)) | (rcode & 0xF)
    if authoritative:
        flags |= AA
    return flags


def opt_record(do: bool, ext_rcode: int = 0, options: bytes = b"") -> bytes:
    """An OPT pseudo-record for a reply: our payload size, version 0, the DO bit echoed."""
    ttl = (ext_rcode << 24) | (DO if do else 0)
    return b"\x00" + OPT_TAIL.pack(TYPE_OPT, OUR_PAYLOAD, ttl, len(options)) + options


def error_reply(request, rcode: int, options: bytes = b"") -> bytes:
    """A reply with no records: REFUSED, SERVFAIL, FORMERR, NOTIMP, BADVERS.

    The question is echoed when it could be read; an OPT is added when the
    query had one (extended rcodes such as BADVERS go in it, and ``options``,
    an extended error say, go in its data).
    """
    question = request.question_wire
    has_opt = request.edns >= 0
    header = HEADER.pack(
        request.id,
        reply_flags(request.flags, rcode & 0xF),
        1 if question else 0,
        0,
        0,
        1 if has_opt else 0,
    )
    if has_opt:
        return header + question + opt_record(request.do, rcode >> 4, options)
    return header + question


TYPE_AXFR, TYPE_IXFR = 252, 251


def transfer_refusal(request) -> bytes:
    """The reply to a zone transfer (AXFR, IXFR) that is not offered: REFUSED over TCP (RFC 5936 says
    REFUSED or NOTAUTH), and over UDP FORMERR for AXFR (it is TCP only) and NOTIMP for IXFR.

    For record sources answering queries in their zones (their lookups have no AXFR or IXFR answer).
    """
    if request.proto != "udp":
        return error_reply(request, 5)
    return error_reply(request, 1 if request.qtype == TYPE_AXFR else 4)


#: Extended DNS error codes (RFC 8914) that plugins give.
EDE_BLOCKED, EDE_FILTERED = 15, 17


def ede_option(code: int, text: str = "") -> bytes:
    """An Extended DNS Error option (RFC 8914) for an OPT record's data."""
    data = struct.pack("!H", code) + text.encode()
    return struct.pack("!HH", 15, len(data)) + data


def header_only_formerr(data: bytes) -> bytes | None:
    """FORMERR for a packet whose header is readable but whose body is not; None if not even that."""
    if len(data) < 12:
        return None
    qid, flags = struct.unpack_from("!HH", data)
    if flags & QR:
        return None  # never answer a response: that is how loops start
    return HEADER.pack(qid, reply_flags(flags, FORMERR), 0, 0, 0, 0)


#: EDNS option codes the server looks at.
OPTION_ECS = 8  # EDNS Client Subnet (RFC 7871)


def edns_option(options: bytes, code: int) -> bytes | None:
    """The data of the first EDNS option ``code`` in an OPT record's raw options (``request.edns_options``)."""
    pos, end = 0, len(options)
    while pos + 4 <= end:
        size = options[pos + 2] << 8 | options[pos + 3]
        if (options[pos] << 8 | options[pos + 1]) == code:
            return options[pos + 4:pos + 4 + size]
        pos += 4 + size
    return None


def encode_name(text: str) -> bytes:
    """Uncompressed wire form of a lower-case, dot-terminated name in presentation form."""
    if text == ".":
        return b"\x00"
    if "\\" in text:  # escapes: dnspython reads them
        return dns.name.from_text(text).to_wire() or b"\x00"
    out = bytearray()
    for raw in text.encode("ascii").rstrip(b".").split(b"."):
        out.append(len(raw))
        out += raw
    out.append(0)
    return bytes(out)


class Scan:
    """Where the TTLs of a rendered reply are, and what a cache needs to know about it."""

    __slots__ = ("ttl_offsets", "ttls", "rcode", "answers", "min_ttl", "soa_min", "truncated")

    def __init__(self):
        self.ttl_offsets: list[int] = []
        self.ttls: list[int] = []
        self.rcode = 0
        self.answers = 0
        self.min_ttl: int | None = None
        self.soa_min: int | None = None
        self.truncated = False


def skip_name(data: bytes, pos: int) -> int:
    """The offset just past a (possibly compressed) name starting at ``pos``."""
    while True:
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + length


def scan(data: bytes) -> Scan:
    """Walk a reply's records once: TTL positions (OPT excluded), rcode, smallest TTL, SOA minimum.

    Raises ValueError (or IndexError/struct.error) on a malformed message.
    """
    s = Scan()
    _id, flags, qd, an, ns, ar = HEADER.unpack_from(data)
    s.rcode = flags & 0x0F
    s.truncated = bool(flags & TC)
    s.answers = an
    pos = 12
    for _ in range(qd):
        pos = skip_name(data, pos) + 4
    for section, count in ((1, an), (2, ns), (3, ar)):
        for _ in range(count):
            pos = skip_name(data, pos)
            rtype, _cls, ttl, rdlen = RR_TAIL.unpack_from(data, pos)
            if rtype != TYPE_OPT:
                s.ttl_offsets.append(pos + 4)
                s.ttls.append(ttl)
                if s.min_ttl is None or ttl < s.min_ttl:
                    s.min_ttl = ttl
                if rtype == 6 and section == 2 and rdlen >= 20:
                    minimum = struct.unpack_from("!I", data, pos + 10 + rdlen - 4)[0]
                    s.soa_min = min(ttl, minimum)
            pos += 10 + rdlen
            if pos > len(data):
                raise ValueError("record runs past the end of the message")
    return s
