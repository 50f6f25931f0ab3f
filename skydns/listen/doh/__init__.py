"""DNS over HTTPS (RFC 8484): a listener's connections, each served by HTTP/2 or HTTP/1.1.

HTTP/2 (ALPN's ``h2``, or a cleartext client that opens with HTTP/2's preface) is served by
skydns's own :mod:`skydns.listen.doh.h2`, HTTP/1.1 by twisted.web (:mod:`skydns.listen.doh.http1`).
Connections of both are bounded like DNS-over-TCP ones (:mod:`skydns.listen.httpbounds`): a cap
with the same eviction, a read deadline for each HTTP/1.1 request, an idle timer counted from whole
requests and responses (bytes of an unfinished request, or HTTP/2 pings, keep no connection open),
and a body of at most 65,535 bytes refused at its headers when it announces more.
"""
from __future__ import annotations

from twisted.internet.protocol import Protocol

from skydns.listen.doh import http1
from skydns.listen.doh.h2 import H2DoH
from skydns.listen.doh.message import max_age
from skydns.listen.flusher import Flusher
from skydns.listen.httpbounds import BoundedConnection, BoundedHTTPFactory

__all__ = ["site_factory", "max_age"]


class _FirstBytes(Protocol):
    """A DoH connection until its first bytes say which HTTP it speaks; then the protocol of that HTTP."""

    def __init__(self, factory: DoHFactory, addr):
        self.factory, self.addr = factory, addr
        self.inner: Protocol | None = None
        self._early = b""

    def dataReceived(self, data: bytes) -> None:
        if self.inner is None:
            data = self._early + data
            h2 = getattr(self.transport, "negotiatedProtocol", None) == b"h2"
            if not h2 and len(data) < 3:  # "PRI" (HTTP/2's preface) or "POST"/"PUT": not yet known
                self._early = data
                return
            factory = self.factory
            if h2 or data.startswith(b"PRI"):
                inner: Protocol = H2DoH(factory.listener, factory.flusher)
            else:
                inner = factory.wrappedFactory.buildProtocol(self.addr)
            self.inner = inner
            inner.makeConnection(self.transport)
            self.dataReceived = inner.dataReceived  # type: ignore[method-assign]  # later bytes go straight there
        self.inner.dataReceived(data)

    def connectionLost(self, reason=None) -> None:
        if self.inner is not None:
            self.inner.connectionLost(reason)


class DoHFactory(BoundedHTTPFactory):
    """A DoH listener's connections behind its connection cap and time bounds (``listener.limits``)."""

    def __init__(self, site, listener, clock=None, kind: str = "HTTPS"):
        super().__init__(site, listener, clock, kind)
        self.flusher = Flusher(self.clock)

    def buildProtocol(self, addr):
        self.make_room()
        return BoundedConnection(self, _FirstBytes(self, addr))


def site_factory(listener, clock=None) -> DoHFactory:
    """The DoH connections of ``listener`` (its ``server`` answers, its ``limits`` bound them: both reloadable)."""
    return DoHFactory(http1.site(listener), listener, clock, "HTTPS")
