"""How every query ends, whichever path answered it: the one place a reply is finished.

Finishing a reply means: render it (or stream it), cut it to what the transport
carries, send it, show it to the observers once, and stop counting the query in
flight; a failure instead answers SERVFAIL (FORMERR when the query was the
problem). The chain's synchronous answer, a cache hit on the raw path, the
forward relay, DNS over HTTPS, UPDATE, NOTIFY and zone transfers all end here,
through the :class:`Delivery` of the listener they came in on (CoreDNS's
``ResponseWriter``, one per listener instead of one per query: the synchronous
path allocates nothing for it).

Where a reply goes travels with the request: ``request.sender`` (the UDP socket,
TCP connection or HTTP exchange that takes ``send(data, peer)``) and
``request.peer`` (the address as the transport gave it).
"""
from __future__ import annotations

import sys

import dns.exception
import dns.message
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from skydns.query import wire
from skydns.query.rcode import FORMERR, SERVFAIL
from skydns.query.reply import MessageStream
from skydns.query.request import MalformedQuery, Request

log = Logger(namespace="skydns.query.delivery")


class Delivery:
    """Ends the queries of one listener in one configuration.

    :ivar generation: the configuration (its ``inflight`` count: reloads and stops
        wait for queries out); None for a server that counts nothing.
    :ivar local: ``(host, port)`` of the listener, handed to every request.
    :ivar transport: ``dns``, ``tls`` or ``https``, handed to every request.
    """

    __slots__ = ("generation", "local", "transport")

    def __init__(self, generation=None, local: tuple | None = None, transport: str = "dns"):
        self.generation = generation
        self.local = local
        self.transport = transport

    # -- requests ----------------------------------------------------------------------------
    def request(self, data: bytes, peer: tuple, proto: str, sender) -> Request:
        """A request for ``data`` from ``peer`` on this listener, whose reply goes to ``sender``.
        Raises MalformedQuery when the packet cannot be read."""
        return Request(data, peer, proto, self.local, self.transport, sender)

    # -- ending a query ------------------------------------------------------------------------
    def deliver(self, request: Request, result) -> None:
        """End ``request`` with what a handler returned: bytes, a ``dns.message.Message``, a
        :class:`~skydns.query.reply.MessageStream`, None (dropped: nothing is sent), or a
        Deferred firing with one of those (counted in flight until it fires)."""
        if result.__class__ is bytes:
            if request.proto == "udp" and len(result) > request.bufsize:
                result = truncate(result, request.bufsize)
            request.sender.send(result, request.peer)
            observe(request, result)
        elif result is None:
            return
        elif isinstance(result, Deferred):
            self.hold()
            result.addCallbacks(self._fired, self._failed, callbackArgs=(request,), errbackArgs=(request,))
            result.addBoth(self.release)
        else:
            self._render(request, result)

    def _fired(self, result, request: Request) -> None:
        self.deliver(request, result)

    def _failed(self, failure, request: Request) -> None:
        self.fail(request, failure)

    def _render(self, request: Request, result) -> None:
        try:
            if isinstance(result, dns.message.Message):
                data = result.to_wire(max_size=request.max_size, prefer_truncation=True)
            elif isinstance(result, MessageStream):
                stream = getattr(request.sender, "stream", None) if request.proto != "udp" else None
                if stream is not None:
                    stream(result.messages, request.peer)
                    observe(request, result.first)
                    return
                data = result.first  # not a stream transport: the first message only
            else:
                raise TypeError(f"a plugin answered with {type(result).__name__}, "
                                "not a dns.message.Message, bytes, a MessageStream or None")
        except Exception:
            self.fail(request)
            return
        self.deliver(request, data)

    def send(self, request: Request, data: bytes) -> None:
        """End ``request`` with ``data``, a rendered reply (cut to the transport, sent, observed)."""
        self.deliver(request, data)

    def reply_error(self, request: Request, rcode: int, options: bytes = b"") -> None:
        """End ``request`` with an empty reply of ``rcode`` (REFUSED, NOTIMP, BADVERS...), its question echoed."""
        self.deliver(request, wire.error_reply(request, rcode, options))

    def fail(self, request: Request, failure=None) -> None:
        """End ``request`` after an error (the exception being handled, or ``failure``): FORMERR when
        the query could not be read, else SERVFAIL, logged with the query."""
        error = sys.exc_info()[1] if failure is None else failure.value
        block = request.block.name if request.block is not None else "?"
        if isinstance(error, MalformedQuery):
            # A part of the query only read when a plugin needed it (a bad EDNS option, a record
            # dnspython refuses): the client's fault, answered as such, not logged as ours.
            log.debug("{block}: malformed query {qname} from {client}: {why}", block=block, qname=request.qname,
                      client=request.client[0], why=error)
            self.deliver(request, wire.error_reply(request, FORMERR))
            return
        if failure is None:
            log.failure("{block}: error answering {qname} type {qtype} from {client}: SERVFAIL",
                        block=block, qname=request.qname, qtype=request.qtype, client=request.client[0])
        else:
            log.failure("{block}: error answering {qname} type {qtype} from {client}: SERVFAIL",
                        failure, block=block, qname=request.qname, qtype=request.qtype, client=request.client[0])
        self.deliver(request, wire.error_reply(request, SERVFAIL))

    def send_raw(self, data: bytes, peer: tuple, sender, request: Request | None = None) -> None:
        """The fast paths' end: ``data`` (a reply that fits any client: at most 512 bytes, or already cut)
        sent to ``peer`` as it is; the observers see it when ``request`` is given (the query, for them)."""
        sender.send(data, peer)
        if request is not None:
            observe(request, data)

    # -- in flight ---------------------------------------------------------------------------
    def hold(self) -> None:
        """Count one query in flight (reloads and stops wait for it); :meth:`release` it when it ends."""
        gen = self.generation
        if gen is not None:
            gen.inflight += 1

    def release(self, passed=None):
        """Stop counting a query held with :meth:`hold`; returns ``passed`` (for ``addBoth``)."""
        gen = self.generation
        if gen is not None:
            gen.inflight -= 1
        return passed


def observe(request: Request, data: bytes) -> None:
    """Hand the bytes sent for ``request`` to its block's observers, then to the request's own."""
    block = request.block
    if block is not None and block.observers:
        for fn in block.observers:
            try:
                fn(request, data)
            except Exception:
                log.failure("observer of {qname} failed", qname=request.qname)
    if request.observers is not None:
        for fn in request.observers:
            try:
                fn(request, data)
            except Exception:
                log.failure("observer of {qname} failed", qname=request.qname)


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
