"""A query as plugins see it: read once from the wire, the dnspython message only on demand."""
from __future__ import annotations

from time import monotonic as _now
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode

from skydns.query import wire

_HEADER = wire.HEADER.unpack_from
_TYPE_CLASS = wire.TYPE_CLASS.unpack_from
_TYPE_CLASS_PACK = wire.TYPE_CLASS.pack
_OPT_TAIL = wire.OPT_TAIL.unpack_from
_new = object.__new__

#: Question names seen, as sent (case included) -> their presentation text; bounded.
_NAMES: dict[bytes, str] = {}
_NAMES_MAX = 20000  # at most ~12 MB even for names of 255 bytes

# Bytes allowed in a label that can be turned into presentation text without escaping.
_PLAIN = bytes(range(0x21, 0x7F)).translate(None, b'.\\"();@$')
_PLAIN_OR_DOT = _PLAIN + b"."


def _plain(client: tuple) -> tuple:
    """``(host, port)``, with an IPv4-mapped IPv6 host (from a dual-stack socket) as plain IPv4."""
    host = client[0]
    if host.startswith("::ffff:") and "." in host:
        return (host[7:], client[1])
    return client


def _options_ok(options: bytes) -> bool:
    """Do the OPT record's options fill its data exactly (code, length, that many bytes, again)?"""
    pos, end = 0, len(options)
    while pos < end:
        if pos + 4 > end:
            return False
        pos += 4 + (options[pos + 2] << 8 | options[pos + 3])
    return pos == end


#: What a derived request shares with the request it came from (see Request.derive).
_SHARED = ("client", "peer", "sender", "proto", "transport", "local", "id", "flags", "qname", "qclass",
           "edns", "bufsize", "do", "edns_options", "block", "zone", "hops", "observers", "started",
           "dependencies")


class MalformedQuery(Exception):
    """The packet is not a query we can read; the server answers FORMERR (or drops it)."""


class Request:
    """One DNS query and where it came from.

    Built by the server for every packet: the header, the question and the
    OPT record are read straight from the wire (a few microseconds), so that
    plugins which only need the name and type never pay for a dnspython
    parse. ``message`` parses the whole packet with dnspython the first time
    it is used.

    :ivar wire: the packet as received (for TCP, without the length prefix).
    :ivar client: ``(host, port)`` of the client; IPv4-mapped IPv6 hosts are
        given as plain IPv4.
    :ivar local: ``(host, port)`` of the listener the query arrived on (the
        host as configured: ``::`` for every address); None for lookups the
        server makes itself.
    :ivar proto: ``"udp"`` or ``"tcp"`` (DNS over TLS and over HTTPS are ``"tcp"``: a stream, no truncation).
    :ivar transport: how the query came: ``"dns"`` (plain UDP or TCP), ``"tls"`` (DNS over TLS)
        or ``"https"`` (DNS over HTTPS): the scheme of the server block key.
    :ivar qname: the question's name in lower case presentation form with a
        trailing dot (``"www.example.org."``).
    :ivar question_wire: the question section as sent (name, type, class),
        kept so replies echo the client's spelling of the name (0x20).
    :ivar edns: the EDNS version of the query, or -1 without an OPT record.
    :ivar bufsize: the UDP payload size the client accepts (at least 512).
    :ivar do: the DNSSEC OK bit.
    :ivar edns_options: the raw options of the OPT record (``b""`` if none).
    :ivar block: the server block that serves the query, set by the server.
    :ivar zone: the zone of that block that matched ``qname``.
    :ivar observers: None, or a list of ``fn(request, reply)`` the server calls with the
        bytes it sent (after truncation); see :meth:`observe`.
    :ivar started: ``time.monotonic()`` when the packet was read.
    :ivar hops: 0 for a client's query; n for a lookup the server made for itself
        (:class:`skydns.query.upstream.Upstream`: an external CNAME target, say) n
        levels deep. Plugins that keep per-client state or answers (a cache)
        leave such lookups alone.
    :ivar sender: where the reply goes: an object with ``send(data, peer)`` (the UDP socket, the TCP
        connection, the HTTP exchange); None for lookups the server makes itself.
    :ivar peer: the client's address as the transport gave it (what ``sender`` sends to).
    :ivar meta: None, or the labels plugins published for this query (see :meth:`set_meta`).
    :ivar dependencies: None, or a list that a plugin which keeps answers (the
        cache) sets before passing the request on: every record source that
        answers it appends the names it read (see
        :class:`skydns.interfaces.IRecordSource`), so a change to one of them
        can drop the kept answer.
    """

    __slots__ = (
        "wire", "client", "proto", "id", "flags", "qname", "qtype", "qclass",
        "question_wire", "edns", "bufsize", "do", "edns_options", "block",
        "zone", "_message", "local", "hops", "observers", "started", "dependencies", "transport",
        "sender", "peer", "meta",
    )

    def __init__(self, data: bytes, client: tuple, proto: str, local=None, transport: str = "dns", sender=None):
        """Read the header, question and OPT of ``data``; raise MalformedQuery if it cannot be read."""
        self.wire = data
        self.peer = client
        self.sender = sender
        self.meta: dict | None = None
        self.client = _plain(client)
        self.proto = proto
        self.transport = transport
        self.local = local
        self.block: Any = None
        self.zone: str | None = None
        self._message: dns.message.Message | None = None
        self.hops = 0  # how many times the server re-entered itself to build this answer
        self.observers: list | None = None  # callables fn(request, reply_bytes) run after the reply is sent
        self.started = _now()
        self.dependencies: list | None = None  # a list when a cache wants the names a reply was built from
        try:
            self.id, self.flags, qd, an, ns, ar = _HEADER(data)
        except Exception:
            raise MalformedQuery("short header") from None
        self.edns = -1
        self.do = False
        self.bufsize = wire.MIN_PAYLOAD
        self.edns_options = b""
        self.question_wire = b""
        if self.flags & wire.QR:
            raise MalformedQuery("not a query")
        if qd != 1:
            raise MalformedQuery(f"{qd} questions")
        # The question name: uncompressed labels from offset 12. Names seen before are
        # recognised by their bytes (up to the first zero byte, the root label's).
        end = data.find(b"\x00", 12)
        known = _NAMES.get(data[12:end + 1]) if end > 0 else None
        if known is not None:
            pos = end + 1
            try:
                self.qtype, self.qclass = _TYPE_CLASS(data, pos)
            except Exception:
                raise MalformedQuery("truncated question") from None
            self.qname = known
            pos += 4
            self.question_wire = data[12:pos]
            self._read_rest(data, pos, an, ns, ar)
            return
        pos = 12
        labels = []
        try:
            # A label running past the end shows as an IndexError on the next length byte.
            length = data[pos]
            while length:
                if length > 63:
                    raise MalformedQuery("compressed or invalid label in the question")
                end = pos + 1 + length
                labels.append(data[pos + 1:end])
                pos = end
                length = data[pos]
            pos += 1
            self.qtype, self.qclass = _TYPE_CLASS(data, pos)
        except MalformedQuery:
            raise
        except Exception:
            raise MalformedQuery("truncated question") from None
        if pos - 12 > 255:
            raise MalformedQuery("name too long")
        pos += 4
        self.question_wire = data[12:pos]
        if labels:
            joined = b".".join(labels)
            # Plain when every byte is printable and the only dots are the separators.
            if joined.translate(None, _PLAIN_OR_DOT) or joined.count(b".") != len(labels) - 1:
                self.qname = dns.name.Name(labels + [b""]).to_text().lower()
            else:
                self.qname = (joined.lower() + b".").decode("ascii")
        else:
            self.qname = "."
        name_wire = self.question_wire[:-4]
        if len(_NAMES) >= _NAMES_MAX:
            _NAMES.clear()
        _NAMES[name_wire] = self.qname
        self._read_rest(data, pos, an, ns, ar)

    def _read_rest(self, data: bytes, pos: int, an: int, ns: int, ar: int) -> None:
        """The sections after the question: a lone OPT read here, anything else by dnspython."""
        if an or ns or ar > 1:
            self._read_slowly()
        elif ar == 1:
            # Only an OPT record is read here; anything else (TSIG, SIG(0)) goes to dnspython.
            if data[pos:pos + 1] != b"\x00":
                self._read_slowly()
                return
            try:
                rtype, payload, ttl, rdlen = _OPT_TAIL(data, pos + 1)
            except Exception:
                raise MalformedQuery("truncated OPT record") from None
            if rtype != wire.TYPE_OPT:
                self._read_slowly()
                return
            options = data[pos + 11:pos + 11 + rdlen]
            if len(options) != rdlen:
                raise MalformedQuery("truncated OPT record")
            if options and not _options_ok(options):
                raise MalformedQuery("malformed EDNS option")
            self.edns = (ttl >> 16) & 0xFF
            self.do = bool(ttl & wire.DO)
            self.bufsize = payload if payload > wire.MIN_PAYLOAD else wire.MIN_PAYLOAD
            self.edns_options = options

    def _read_slowly(self):
        """Unusual queries (records outside the question, TSIG): let dnspython read them."""
        try:
            # keyring=False: a TSIG record is read but not verified; a plugin that holds keys may.
            msg = dns.message.from_wire(self.wire, keyring=False)
        except dns.exception.DNSException as e:
            raise MalformedQuery(str(e) or type(e).__name__) from e
        self._message = msg
        if msg.edns >= 0:
            self.edns = msg.edns
            self.do = bool(msg.ednsflags & dns.flags.DO)
            self.bufsize = max(msg.payload, wire.MIN_PAYLOAD)

    def repeat(self, data: bytes, client: tuple, proto: str, local=None, transport: str = "dns",
               sender=None) -> Request:
        """This query again, as ``data`` from ``client``: bytes equal to ours after the ID.

        For the server's raw path, where a cache answers repeated query bytes
        before anything is parsed: every field read from the wire is the same,
        so it is copied, not read again (observers still get a whole request).
        """
        r = _new(Request)
        r.wire = data
        r.peer = client
        r.sender = sender
        r.client = _plain(client)
        r.proto = proto
        r.transport = transport
        r.id = data[0] << 8 | data[1]
        r.started = _now()
        r.flags, r.qname, r.qtype, r.qclass = self.flags, self.qname, self.qtype, self.qclass
        r.question_wire, r.edns, r.bufsize, r.do = self.question_wire, self.edns, self.bufsize, self.do
        r.edns_options, r.block, r.zone, r.local = self.edns_options, self.block, self.zone, local
        r._message = r.observers = r.dependencies = r.meta = None
        r.hops = 0
        return r

    def derive(self, qname: str | None = None, qtype: int | None = None) -> Request:
        """This query asked for another name and/or type, to pass down the chain in its place.

        The derived request's wire form, question and name agree (ID, flags, EDNS and everything
        after the question are the client's); every per-query slot is shared with this one: the
        client, listener and sender, ``block``, ``zone``, ``hops``, ``started``, ``dependencies``,
        ``observers`` and the metadata (a label set on either is seen on both). The reply that
        comes back answers the derived question: hand the client a reply to its own (see
        :func:`skydns.query.rename.rename`).
        """
        r = _new(Request)
        for slot in _SHARED:
            setattr(r, slot, getattr(self, slot))
        if self.meta is None:
            self.meta = {}
        r.meta = self.meta
        r._message = None
        name_wire = self.question_wire[:-4]
        if qname is not None:
            try:
                parsed = dns.name.from_text(qname)
            except dns.exception.DNSException as e:
                raise ValueError(f"{qname!r} is not a name: {e}") from e
            name_wire = parsed.to_wire() or b"\x00"
            r.qname = parsed.to_text().lower()
        r.qtype = self.qtype if qtype is None else qtype
        r.question_wire = name_wire + _TYPE_CLASS_PACK(r.qtype, self.qclass)
        end = 12 + len(self.question_wire)
        r.wire = self.wire[:12] + r.question_wire + self.wire[end:]
        return r

    def set_meta(self, label: str, value) -> None:
        """Publish ``label`` (``plugin/name``, as CoreDNS's metadata) for this query: a string, or a
        callable returning one when it is read. The log prints it as ``{/plugin/name}``."""
        if self.meta is None:
            self.meta = {}
        self.meta[label] = value

    def get_meta(self, label: str) -> str | None:
        """The value of ``label`` published for this query (a callable's result), or None."""
        meta = self.meta
        if meta is None:
            return None
        value = meta.get(label)
        if callable(value):
            value = value()
        return None if value is None else str(value)

    def observe(self, fn) -> None:
        """Have ``fn(request, reply_bytes)`` called once the reply is sent (not for dropped queries)."""
        if self.observers is None:
            self.observers = [fn]
        else:
            self.observers.append(fn)

    @property
    def message(self) -> dns.message.Message:
        """The whole query as a dnspython message, parsed on first use."""
        msg = self._message
        if msg is None:
            try:
                msg = self._message = dns.message.from_wire(self.wire, keyring=False)
            except dns.exception.DNSException as e:
                raise MalformedQuery(str(e) or type(e).__name__) from e
        return msg

    @property
    def max_size(self) -> int:
        """The largest reply this client can take on this transport."""
        return self.bufsize if self.proto == "udp" else 65535

    def reply(self, authoritative: bool = False, rcode: int = 0) -> dns.message.Message:
        """An empty dnspython reply to this query: ID, question, RD/CD and OPT (with DO) set.

        The question is the query's own (a shared object): add records to the
        reply's sections, never change the question in place.
        """
        msg = dns.message.make_response(self.message, our_payload=wire.OUR_PAYLOAD)
        msg.flags |= self.flags & wire.CD
        if authoritative:
            msg.flags |= dns.flags.AA
        if self.edns >= 0 and self.do:
            msg.ednsflags |= dns.flags.DO
        if rcode:
            msg.set_rcode(dns.rcode.Rcode.make(rcode))
        return msg

    def __repr__(self) -> str:
        return f"<Request {self.id} {self.qname} {self.qtype} from {self.client[0]}:{self.client[1]}/{self.proto}>"
