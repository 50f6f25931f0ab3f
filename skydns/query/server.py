"""Answer one packet: read it, route it to a server block, run the chain, write the reply.

This is the hot path. Everything that every query needs is done on bytes
(:mod:`skydns.query.wire`, :class:`skydns.query.request.Request`); a reply is rendered
by dnspython only when a plugin returned a dnspython message. Errors never
escape: unreadable packets get FORMERR (or are dropped), a plugin that
raises gets its query a SERVFAIL.
"""
from __future__ import annotations

import sys

import dns.exception
import dns.message
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from skydns.interfaces import IRawAnswerer, IRawForwarder, IRawReplyFilter, IRawTransparent, IUpdater
from skydns.query import wire
from skydns.query.rcode import BADVERS, FORMERR, NOTIMP, REFUSED, SERVFAIL
from skydns.query.reply import MessageStream
from skydns.query.request import MalformedQuery, Request

log = Logger(namespace="skydns.query.server")


class ZoneMux:
    """Finds the server block of the most specific zone for a name (CoreDNS's zone walk).

    DS records live in the parent zone, so a DS query for a zone's apex goes
    to the block of the parent zone when one is served here.
    """

    __slots__ = ("zones", "seen")

    #: Routes remembered per query name (not for DS); forgotten all at once when full.
    SEEN_MAX = 50000

    def __init__(self, zones: dict):
        self.zones = zones
        self.seen: dict = {}

    def route(self, qname: str, qtype: int):
        """``(zone, block)`` for ``qname``, or None when no block serves it."""
        if qtype != wire.TYPE_DS:
            found = self.seen.get(qname, self)
            if found is not self:
                return found
            found = self._walk(qname, qtype)
            if len(self.seen) >= self.SEEN_MAX:
                self.seen.clear()
            self.seen[qname] = found
            return found
        return self._walk(qname, qtype)

    def _walk(self, qname: str, qtype: int):
        zones = self.zones
        name = qname
        apex = None
        while True:
            block = zones.get(name)
            if block is not None:
                if qtype != wire.TYPE_DS or name != qname or name == ".":
                    return name, block
                apex = (name, block)
            if name == ".":
                return apex
            name = name[name.find(".") + 1:] or "."


class Server:
    """Answers the packets arriving on one listening address.

    ``handle`` is called by the UDP and TCP protocols with a ``sender`` that
    has ``send(wire, client)``. The mux is replaced as a whole on reload;
    a query already running finishes on the chain it started with.
    """

    def __init__(self, mux: ZoneMux, generation=None, local: tuple | None = None, transport: str = "dns"):
        self.mux = mux
        self.generation = generation
        #: the listener's scheme (dns, tls, https), handed to every request as ``request.transport``
        self.transport = transport
        #: (host, port) this server listens on, handed to every request as ``request.local``
        self.local = local
        # The raw path: an IRawAnswerer at the head of its block's chain (behind IRawTransparent
        # handlers, whose decisions depend on the query bytes alone) answers packets before
        # anything is parsed. IRawReplyFilter handlers in front rewrite its replies, innermost
        # first, as replies travel. The block's observers get a copy of the first request.
        self.raw_answerers: list[tuple] = []
        seen = set()
        for b in mux.zones.values():
            head = b.chain
            filters: list = []
            while True:
                if IRawTransparent.providedBy(head):
                    head = head.next
                elif IRawReplyFilter.providedBy(head):
                    filters.insert(0, head.raw_reply)
                    head = head.next
                else:
                    break
            if IRawAnswerer.providedBy(head) and id(head) not in seen:
                seen.add(id(head))
                self.raw_answerers.append((head.raw_answer, head.raw_request if b.observers else None,
                                           b.observers, tuple(filters)))
        # The raw relay: a listener whose only block starts with a forwarder that needs no name
        # rules hands it every UDP packet unread (IRawForwarder).
        self.raw_forward = None
        if len(mux.zones) == 1:
            (b,) = mux.zones.values()
            head = b.chain
            while IRawTransparent.providedBy(head):
                head = head.next
            if IRawForwarder.providedBy(head) and head.raw_forward_ready():
                self.raw_forward = head.raw_forward

    def handle(self, data: bytes, client: tuple, proto: str, sender) -> None:
        if self.raw_answerers:
            for answer, first_request, observers, filters in self.raw_answerers:
                if observers:
                    first = first_request(data)
                    if first is None:
                        continue  # nothing to show the observers: the normal path
                reply = answer(data)
                if reply is not None:
                    for fn in filters:
                        reply = fn(reply)
                    sender.send(reply, client)
                    if observers:
                        req = first.repeat(data, client, proto, self.local, self.transport)
                        for fn in observers:
                            try:
                                fn(req, reply)
                            except Exception:
                                log.failure("observer of {qname} failed", qname=req.qname)
                    return
        if self.raw_forward is not None and proto == "udp" and self.raw_forward(data, client, sender, self):
            return
        try:
            req = Request(data, client, proto, self.local, self.transport)
        except MalformedQuery:
            reply = wire.header_only_formerr(data)
            if reply is not None:
                sender.send(reply, client)
            return
        if req.flags & wire.OPCODE_MASK:
            if req.flags & wire.OPCODE_MASK == wire.OPCODE_UPDATE:
                self._update(req, sender, client)
                return
            sender.send(wire.error_reply(req, NOTIMP), client)
            return
        if req.edns > 0:
            sender.send(wire.error_reply(req, BADVERS), client)
            return
        route = self.mux.route(req.qname, req.qtype)
        if route is None:
            sender.send(wire.error_reply(req, REFUSED), client)
            return
        req.zone, block = route
        req.block = block
        try:
            result = block.chain.serve(req)
        except Exception:
            self._failed(None, req, sender, client)
            return
        if result.__class__ is bytes:
            if proto == "udp" and len(result) > req.bufsize:
                result = truncate(result, req.bufsize)
            sender.send(result, client)
            if block.observers:  # inline: log and prometheus see every reply
                for fn in block.observers:
                    try:
                        fn(req, result)
                    except Exception:
                        log.failure("observer of {qname} failed", qname=req.qname)
            if req.observers is not None:
                _observe(req.observers, req, result)
        elif isinstance(result, Deferred):
            gen = self.generation
            if gen is not None:
                gen.inflight += 1
            args = (req, sender, client)
            result.addCallbacks(self._write, self._failed, callbackArgs=args, errbackArgs=args)
            if gen is not None:
                result.addBoth(_done, gen)
        else:
            self._write(result, req, sender, client)

    def _update(self, req: Request, sender, client) -> None:
        """A dynamic update (RFC 2136): to the IUpdater of the block serving its zone, or NOTIMP."""
        route = self.mux.route(req.qname, req.qtype)
        updaters = route[1].find(IUpdater) if route is not None else []
        if not updaters:
            sender.send(wire.error_reply(req, NOTIMP), client)
            return
        req.zone, req.block = route
        try:
            result = updaters[0].update(req)
        except Exception:
            self._failed(None, req, sender, client)
            return
        if isinstance(result, Deferred):
            args = (req, sender, client)
            result.addCallbacks(self._write, self._failed, callbackArgs=args, errbackArgs=args)
        else:
            self._write(result, req, sender, client)

    def _write(self, result, req: Request, sender, client) -> None:
        """Render and send a plugin's reply to ``client`` (the address as the transport gave it)."""
        if result is None:
            return
        try:
            if result.__class__ is bytes:
                data = result
                if req.proto == "udp" and len(data) > req.bufsize:
                    data = truncate(data, req.bufsize)
            elif isinstance(result, dns.message.Message):
                data = result.to_wire(max_size=req.max_size, prefer_truncation=True)
            elif isinstance(result, MessageStream):
                stream = getattr(sender, "stream", None)
                if stream is None:  # not a stream transport: the first message only
                    data = result.first
                else:
                    stream(result.messages)
                    _notify(req, result.first)
                    return
            else:
                raise TypeError(f"a plugin answered with {type(result).__name__}, "
                                "not a dns.message.Message, bytes, a MessageStream or None")
        except Exception:
            self._failed(None, req, sender, client)
            return
        sender.send(data, client)
        _notify(req, data)

    def _failed(self, failure, req: Request, sender, client) -> None:
        block = req.block.name if req.block is not None else "?"
        error = sys.exc_info()[1] if failure is None else failure.value
        if isinstance(error, MalformedQuery):
            # A part of the query only read when a plugin needed it (a bad EDNS option, a record
            # dnspython refuses): the client's fault, answered as such, not logged as ours.
            log.debug("{block}: malformed query {qname} from {client}: {why}", block=block, qname=req.qname,
                      client=req.client[0], why=error)
            data = wire.error_reply(req, FORMERR)
            sender.send(data, client)
            _notify(req, data)
            return
        if failure is None:
            log.failure("{block}: error answering {qname} type {qtype} from {client}: SERVFAIL",
                        block=block, qname=req.qname, qtype=req.qtype, client=req.client[0])
        else:
            log.failure("{block}: error answering {qname} type {qtype} from {client}: SERVFAIL",
                        failure, block=block, qname=req.qname, qtype=req.qtype, client=req.client[0])
        data = wire.error_reply(req, SERVFAIL)
        sender.send(data, client)
        _notify(req, data)


def _notify(req: Request, data: bytes) -> None:
    """Hand the bytes sent to the block's observers, then to the request's own.

    (The two hot paths, a raw cache hit and a synchronous answer, loop over the
    block's observers inline instead: a call less per query.)
    """
    if req.block is not None and req.block.observers:
        _observe(req.block.observers, req, data)
    if req.observers is not None:
        _observe(req.observers, req, data)


def _observe(observers, req: Request, data: bytes) -> None:
    for fn in observers:
        try:
            fn(req, data)
        except Exception:
            log.failure("observer of {qname} failed", qname=req.qname)


def _done(result, gen):
    gen.inflight -= 1
    return None


def truncate(data: bytes, size: int) -> bytes:
    """Cut a rendered reply to ``size`` bytes the way dnspython does: whole RRsets, TC when answers are lost."""
    try:
        msg = dns.message.from_wire(data, keyring=False)
        return msg.to_wire(max_size=size, prefer_truncation=True)
    except dns.exception.DNSException:
        # Not readable: send the bare header with TC, so the client retries over TCP.
        header = bytearray(data[:12])
        header[2] |= wire.TC >> 8
        header[4:12] = bytes(8)
        return bytes(header)
