"""DNS over HTTPS (RFC 8484) on twisted.web: GET with ``?dns=`` and POST of ``application/dns-message``.

A DoH listener is a twisted.web :class:`~twisted.web.server.Site` whose only resource is
``/dns-query``; HTTP/2 is negotiated by ALPN when Twisted's h2 support is installed
(``twisted[http2]``), HTTP/1.1 always. Every message goes to the listener's
:class:`skydns.query.server.Server` like a TCP query (``proto`` "tcp", ``transport`` "https"),
and the reply comes back as the response body, with ``max-age`` the smallest TTL of the
answer (RFC 8484 5.1).

Connections are bounded like DNS-over-TCP ones (:class:`HTTPStreamFactory`): a cap with
the same eviction, and an idle timer counted from whole queries and replies, so bytes of
an unfinished request (or HTTP/2 pings) do not keep a connection open.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any, cast

from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.web import http
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Site

from skydns.listen.transport import ConnectionCap
from skydns.query import wire

log = Logger(namespace="skydns.listen.doh")

PATH = b"dns-query"
CONTENT_TYPE = b"application/dns-message"
#: The largest DNS message (RFC 8484 caps nothing, the DNS does).
MAX_MESSAGE = 65535


def max_age(reply: bytes) -> int:
    """Seconds an HTTP cache may keep ``reply``: its smallest answer TTL, or the SOA minimum of a denial."""
    try:
        s = wire.scan(reply)
    except Exception:
        return 0
    if s.answers and s.min_ttl is not None:
        return s.min_ttl
    return s.soa_min or 0


class _Answer:
    """Where the server's reply to one DoH request goes: that request's HTTP response."""

    __slots__ = ("request", "conn")

    def __init__(self, request, conn):
        self.request = request
        self.conn = conn

    def send(self, data: bytes, addr=None) -> None:
        request, self.request = self.request, None
        if request is None:
            return  # the client went away while its answer was being made (gone() counted it)
        if self.conn is not None:
            self.conn.replied()
        if request.finished or getattr(request, "_disconnected", False):
            return
        request.setHeader(b"content-type", CONTENT_TYPE)
        request.setHeader(b"cache-control", b"max-age=%d" % max_age(data))
        request.setHeader(b"content-length", b"%d" % len(data))
        request.write(data)
        request.finish()

    def gone(self, _failure) -> None:
        if self.request is not None and self.conn is not None:
            self.conn.replied()  # nothing to wait for any more
        self.request = None


class DNSQueryResource(Resource):
    """``/dns-query``: the queries of one DoH listener, answered by its current server."""

    isLeaf = True

    def __init__(self, listener):
        super().__init__()
        self.listener = listener

    def render_GET(self, request):
        values = request.args.get(b"dns")
        if not values:
            return _error(request, http.BAD_REQUEST, b"missing dns parameter")
        text = values[0]
        try:
            data = base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            return _error(request, http.BAD_REQUEST, b"dns parameter is not base64url")
        return self._query(request, data)

    def render_POST(self, request):
        ctype = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
        if ctype != CONTENT_TYPE:
            return _error(request, http.UNSUPPORTED_MEDIA_TYPE, b"expected application/dns-message")
        data = request.content.read(MAX_MESSAGE + 1)
        if len(data) > MAX_MESSAGE:
            return _error(request, http.REQUEST_ENTITY_TOO_LARGE, b"a DNS message is at most 65535 bytes")
        return self._query(request, data)

    def _query(self, request, data: bytes):
        if len(data) < 12:
            return _error(request, http.BAD_REQUEST, b"not a DNS message")
        conn = connection_of(request)
        if conn is not None:
            conn.queried()
        answer = _Answer(request, conn)
        request.notifyFinish().addErrback(answer.gone)
        addr = request.getClientAddress()
        client = (getattr(addr, "host", "0.0.0.0"), getattr(addr, "port", 0))
        self.listener.server.handle(data, client, "tcp", answer)
        return NOT_DONE_YET


def _error(request, code: int, text: bytes) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain")
    return text + b"\n"


class _Root(Resource):
    def __init__(self, listener):
        super().__init__()
        self.putChild(PATH, cast(IResource, DNSQueryResource(listener)))

    def getChild(self, path, request):
        return notFound()


def connection_of(request) -> HTTPStreamProtocol | None:
    """The bounded connection a request came on (HTTP/1.1 channel or HTTP/2 stream)."""
    channel = getattr(request, "channel", None)
    conn = getattr(channel, "_conn", channel)  # an HTTP/2 stream's connection
    transport = getattr(conn, "transport", None)
    return transport if isinstance(transport, HTTPStreamProtocol) else None


class HTTPStreamProtocol(ProtocolWrapper):
    """One HTTP connection (inside TLS): counted against the cap, closed after ``idle`` without a query or reply."""

    factory: HTTPStreamFactory

    def __init__(self, factory, wrapped):
        super().__init__(factory, wrapped)
        self.pending = 0
        self.last_active = 0.0
        self._idle: Any = None

    def connectionMade(self) -> None:
        self.factory.opened(self)
        self._active()

    def _active(self) -> None:
        self.last_active = self.factory.clock.seconds()
        if self._idle is not None and self._idle.active():
            self._idle.cancel()
        self._idle = None
        idle = self.factory.listener.limits.idle
        if idle and not self.pending:
            self._idle = self.factory.clock.callLater(idle, self._close)

    def queried(self) -> None:
        self.pending += 1
        self._active()

    def replied(self) -> None:
        if self.pending:
            self.pending -= 1
        self._active()

    def _close(self) -> None:
        self._idle = None
        if self.transport is not None and self.connected:
            self.transport.abortConnection()

    def connectionLost(self, reason=None) -> None:
        if self._idle is not None and self._idle.active():
            self._idle.cancel()
        self.factory.closed(self)
        super().connectionLost(reason)


class HTTPStreamFactory(WrappingFactory, ConnectionCap):
    """The DoH site behind the listener's connection cap (:class:`skydns.listen.transport.ConnectionCap`)."""

    protocol = HTTPStreamProtocol

    def __init__(self, listener, clock=None):
        ConnectionCap.__init__(self, listener, "HTTPS")
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        site = Site(_Root(listener))
        site.noisy = False
        site.displayTracebacks = False
        site.timeOut = None  # ours: HTTPStreamProtocol
        super().__init__(site)

    def buildProtocol(self, addr):
        self.make_room()
        return super().buildProtocol(addr)

    # WrappingFactory keeps its own registry of protocols; ConnectionCap's is the one used.
    def registerProtocol(self, p) -> None:
        pass

    def unregisterProtocol(self, p) -> None:
        pass
