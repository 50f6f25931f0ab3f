"""Looking a name up through the server itself (CoreDNS's ``upstream``).

A plugin that needs an answer for a name it does not serve (an external
CNAME target) asks the server: the query is routed to whichever block serves
that name on the same port and goes through its chain, so ``forward`` (or
any plugin) answers it exactly as for a client.
"""
from __future__ import annotations

import dns.flags
import dns.message
import dns.rdatatype
from twisted.internet.defer import Deferred

from skydns.query.reply import Reply
from skydns.query.request import Request

MAX_HOPS = 4
#: The client of lookups a plugin makes for itself.
SELF = ("127.0.0.1", 0)


class UpstreamError(Exception):
    """The name could not be looked up (no block serves it, too deep, or the chain failed)."""


class Upstream:
    """Lookups through the server for the plugins of ``block`` (make one in ``build``)."""

    def __init__(self, block):
        self.block = block

    def lookup(self, name: str, qtype: int, parent: Request | None = None):
        """A dnspython reply for ``name``/``qtype``, or a Deferred firing with one.

        ``parent`` is the request being answered: the lookup goes to the same
        port, counts one more ``hops`` (at most MAX_HOPS deep), and comes from
        the same client. Without one (a plugin asking for itself: a probe), it
        goes to the block's first port from ``SELF`` over UDP. Raises (or fails
        with) UpstreamError when no block serves the name or the query was dropped.
        """
        hops = parent.hops if parent is not None else 0
        if hops >= MAX_HOPS:
            raise UpstreamError(f"{name}: too many nested lookups")
        service = self.block.service
        if service is None:
            raise UpstreamError("no running server to ask")
        query = dns.message.make_query(name, dns.rdatatype.RdataType.make(qtype))
        query.flags |= dns.flags.RD
        if parent is not None:
            req = Request(query.to_wire(), parent.client, parent.proto, parent.local, parent.transport)
        else:
            req = Request(query.to_wire(), SELF, "udp")
        req.hops = hops + 1
        port = parent.block.ports[0] if parent is not None and parent.block is not None else self.block.ports[0]
        route = service.route(req.qname, req.qtype, port)
        if route is None:
            raise UpstreamError(f"no server block serves {name}")
        req.zone, block = route
        req.block = block
        result = block.chain.serve(req)
        if isinstance(result, Deferred):
            return result.addCallback(_as_message)
        return _as_message(result)


def _as_message(result) -> dns.message.Message:
    if result is None:
        raise UpstreamError("dropped")
    return Reply(result).message
