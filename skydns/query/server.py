"""Answer one packet: read it, route it to a server block, run the chain, hand the result to the delivery.

This is the hot path. Everything that every query needs is done on bytes
(:mod:`skydns.query.wire`, :class:`skydns.query.request.Request`); a reply is
rendered by dnspython only when a plugin returned a dnspython message. Every
query ends through the listener's :class:`skydns.query.delivery.Delivery`,
whichever path answers it. Errors never escape: unreadable packets get FORMERR
(or are dropped), a plugin that raises gets its query a SERVFAIL.
"""
from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from skydns.interfaces import (
    IRawAnswerer,
    IRawForwarder,
    IRawKeeper,
    IRawReplyFilter,
    IRawRewriter,
    IRawTransparent,
    IUpdater,
)
from skydns.query import wire
from skydns.query.delivery import Delivery
from skydns.query.mux import ZoneMux
from skydns.query.rcode import BADVERS, NOTIMP, REFUSED
from skydns.query.request import MalformedQuery

log = Logger(namespace="skydns.query.server")

__all__ = ["Server", "ZoneMux"]


class Server:
    """Answers the packets arriving on one listening address.

    ``handle`` is called by the UDP and TCP protocols (and DoH's exchanges) with a
    ``sender`` that has ``send(wire, peer)``. The mux is replaced as a whole on
    reload; a query already running finishes on the chain it started with.
    """

    def __init__(self, mux: ZoneMux, generation=None, local: tuple | None = None, transport: str = "dns",
                 guard=None):
        self.mux = mux
        self.generation = generation
        #: what stands at the listener's door (skydns.query.guard: cookies, rate limiting), or None
        self.guard = guard
        #: how this listener's queries end (see skydns.query.delivery)
        self.delivery = Delivery(generation, local, transport)
        # The raw path: an IRawAnswerer at the head of its block's chain (behind IRawTransparent
        # handlers, whose decisions depend on the query bytes alone) answers packets before
        # anything is parsed. IRawReplyFilter handlers in front rewrite its replies, innermost
        # first, as replies travel. The block's observers get a copy of the first request.
        # IRawRewriter handlers change the query bytes on the way in and restore the reply on the way out.
        self.raw_answerers: list[tuple] = []
        seen = set()
        for b in mux.zones.values():
            head = b.chain
            filters: list = []
            steps: list = []  # outermost first: (rewriter, None) or (None, reply filter)
            while True:
                if IRawTransparent.providedBy(head):
                    head = head.next
                elif IRawReplyFilter.providedBy(head):
                    filters.insert(0, head.raw_reply)
                    steps.append((None, head.raw_reply))
                    head = head.next
                elif IRawRewriter.providedBy(head):
                    steps.append((head, None))
                    head = head.next
                else:
                    break
            if IRawAnswerer.providedBy(head) and id(head) not in seen:
                seen.add(id(head))
                rewriting = any(rw is not None for rw, _ in steps)
                self.raw_answerers.append((head.raw_answer, head.raw_request if b.observed else None,
                                           tuple(filters), tuple(steps) if rewriting else None))
        # The raw relay (IRawForwarder): a forwarder that needs no name rules takes UDP packets unread;
        # behind a cache (IRawKeeper) with nothing else in between, the packets the cache has no answer
        # for, the answers kept. The raw-transparent handlers in front see each packet first
        # (raw_passes: any and chaos answer some themselves). A listener with one block offers it
        # packets before reading them; with several, once a packet is routed to the block.
        self.raw_forward: Any = None
        self.raw_keep: Any = None
        self.raw_missing: Any = None
        self.raw_passes: tuple = ()
        self.raw_streams = False  # the relay also takes queries of TCP, TLS and HTTPS (IRawForwarder.raw_streams)
        self.block_relays: dict[int, tuple] = {}
        for b in set(mux.zones.values()):
            relay = _relay_of(b)
            if relay is None:
                continue
            if len(mux.zones) == 1:
                self.raw_forward, self.raw_keep, self.raw_missing, self.raw_passes, self.raw_streams = relay
            else:
                self.block_relays[id(b)] = relay
        #: the listener's raw relay as :func:`_offer` takes it
        self.relay = (self.raw_forward, self.raw_keep, self.raw_missing, self.raw_passes, self.raw_streams)
        #: what the listener's UDP port hands each packet: :meth:`handle`, or the express lane of a bare
        #: forwarder (IRawForwarder.raw_lane) that alone makes the only block, with nothing at the door
        self.handle_udp = self.handle
        if self.raw_forward is not None and self.raw_keep is None and not self.raw_passes and guard is None \
                and not self.raw_answerers:
            door = _lane_of(next(iter(mux.zones.values())), self.handle, self.delivery)
            if door is not None:
                self.handle_udp = door

    @property
    def local(self) -> tuple | None:
        """(host, port) this server listens on, handed to every request as ``request.local``."""
        return self.delivery.local

    @local.setter
    def local(self, value: tuple | None) -> None:
        self.delivery.local = value

    @property
    def transport(self) -> str:
        """The listener's scheme (dns, tls, https), handed to every request as ``request.transport``."""
        return self.delivery.transport

    def handle(self, data: bytes, client: tuple, proto: str, sender) -> None:
        guard = self.guard
        if guard is not None:
            admitted = guard.admit(data, client, proto, sender)
            if admitted is None:
                return
            data, sender = admitted
        delivery = self.delivery
        if self.raw_answerers:
            for answer, first_request, filters, steps in self.raw_answerers:
                if steps is not None:
                    if self._raw_rewritten(data, client, proto, sender, answer, first_request, steps):
                        return
                    continue
                first = None
                if first_request is not None:
                    first = first_request(data)
                    if first is None:
                        continue  # nothing to show the observers: the normal path
                reply = answer(data)
                if reply is not None:
                    for fn in filters:
                        reply = fn(reply)
                    if first is not None:
                        first = first.repeat(data, client, proto, delivery.local, delivery.transport, sender)
                    delivery.send_raw(reply, client, sender, first)
                    return
        if self.raw_forward is not None and (proto == "udp" or self.raw_streams) \
                and _offer(self.relay, data, client, sender, delivery, None, proto):
            return
        try:
            req = delivery.request(data, client, proto, sender)
        except MalformedQuery:
            reply = wire.header_only_formerr(data)
            if reply is not None:
                delivery.send_raw(reply, client, sender)
            return
        if req.flags & wire.OPCODE_MASK:
            self._opcode(req)
            return
        if req.edns > 0:
            delivery.reply_error(req, BADVERS)
            return
        route = self.mux.route(req.qname, req.qtype)
        if route is None:
            delivery.reply_error(req, REFUSED)
            return
        req.zone, block = route
        req.block = block
        if self.block_relays:
            relay = self.block_relays.get(id(block))
            if relay is not None and (proto == "udp" or relay[4]) and _offer(relay, data, client, sender, delivery,
                                                                              req, proto):
                return
        try:
            result = block.chain.serve(req)
        except Exception:
            delivery.fail(req)
            return
        delivery.deliver(req, result)

    def _raw_rewritten(self, data, client, proto, sender, answer, first_request, steps) -> bool:
        """The raw path through IRawRewriter handlers: query bytes rewritten on the way in, the reply
        restored on the way out; True when the answerer answered."""
        queries = []
        query = data
        for rewriter, _ in steps:
            if rewriter is not None:
                queries.append(query)
                query = rewriter.raw_query(query)
                if query is None:
                    return False
        first = None
        if first_request is not None:
            first = first_request(query)
            if first is None:
                return False
        reply = answer(query)
        if reply is None:
            return False
        try:
            for rewriter, reply_filter in reversed(steps):
                if rewriter is None:
                    reply = reply_filter(reply)
                else:
                    reply = rewriter.raw_restore(queries.pop(), reply)
        except Exception:
            log.failure("a raw reply could not be restored; answering the normal way")
            return False
        request = None
        if first is not None:
            # the observers see the client's query, not the rewritten one the answerer remembers
            try:
                request = self.delivery.request(data, client, proto, sender)
            except MalformedQuery:
                return False
            request.block, request.zone = first.block, first.zone
        self.delivery.send_raw(reply, client, sender, request)
        return True

    def _opcode(self, req) -> None:
        """Another opcode: UPDATE (RFC 2136) down the chain of the block serving its zone when the block
        takes updates (an IUpdater in its chain: the plugins in front of it apply, acl among them),
        anything else (NOTIFY, IQUERY, STATUS) NOTIMP; through the delivery, so observers see them."""
        route = self.mux.route(req.qname, req.qtype)
        if route is not None:
            req.zone, req.block = route
        if req.flags & wire.OPCODE_MASK == wire.OPCODE_UPDATE and route is not None and route[1].find(IUpdater):
            try:
                result = route[1].chain.serve(req)
            except Exception:
                self.delivery.fail(req)
                return
            self.delivery.deliver(req, result)
            return
        self.delivery.reply_error(req, NOTIMP)


def _past_transparent(head, passes: list):
    """The first handler from ``head`` on that is not raw-transparent; each one passed adds its
    ``raw_passes`` to ``passes`` (nothing for those that pass everything on, None for those without one)."""
    while IRawTransparent.providedBy(head):
        if not getattr(head, "raw_passes_all", False):
            passes.append(getattr(head, "raw_passes", None))  # None: it cannot say (no relay past it)
        head = head.next
    return head


def _relay_of(block) -> tuple | None:
    """``(forward, keep, missing, passes, streams)`` of the block's raw relay, or None when it has none."""
    passes: list = []
    head = _past_transparent(block.chain, passes)
    keeper = None
    if IRawKeeper.providedBy(head):
        keeper = head
        head = _past_transparent(head.next, passes)
    if not IRawForwarder.providedBy(head) or not head.raw_forward_ready() or None in passes:
        return None
    streams = bool(getattr(head, "raw_streams", False))
    if keeper is None:
        return head.raw_forward, None, None, tuple(passes), streams
    if not keeper.raw_keep_ready():
        return None
    return head.raw_forward, keeper.raw_keep, keeper.raw_missing, tuple(passes), streams


def _lane_of(block, handle, delivery):
    """The express lane's entrance (``IRawForwarder.raw_lane``, optional) of the forwarder that heads the
    block's chain (behind handlers that pass everything on), or None."""
    head = block.chain
    while IRawTransparent.providedBy(head) and getattr(head, "raw_passes_all", False):
        head = head.next
    lane = getattr(head, "raw_lane", None) if IRawForwarder.providedBy(head) else None
    return lane(handle, delivery) if lane is not None else None


def _offer(relay: tuple, data: bytes, client, sender, delivery, request=None, proto: str = "udp") -> bool:
    """Offer the packet to a raw relay: when no raw-transparent handler in front would answer it, and a
    cache in front has nothing for it under another spelling (``request``: the packet, read already);
    True when the relay took it."""
    forward, keep, missing, passes, _streams = relay
    for passes_on in passes:
        if not passes_on(data):
            return False
    if missing is not None and not missing(data, request):
        return False
    if proto == "udp":
        return forward(data, client, sender, delivery, keep)
    return forward(data, client, sender, delivery, keep, proto)
