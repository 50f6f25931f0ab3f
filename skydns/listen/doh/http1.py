"""DNS over HTTPS (RFC 8484) on twisted.web: GET with ``?dns=`` and POST of ``application/dns-message``.

A DoH listener is a twisted.web :class:`~twisted.web.server.Site` whose only resource is
``/dns-query``; HTTP/2 is negotiated by ALPN when Twisted's h2 support is installed
(``twisted[http2]``), HTTP/1.1 always. Every message goes to the listener's
:class:`skydns.query.server.Server` like a TCP query (``proto`` "tcp", ``transport`` "https"),
and the reply comes back as the response body, with ``max-age`` the smallest TTL of the
answer (RFC 8484 5.1).

Connections are bounded like DNS-over-TCP ones (:mod:`skydns.listen.httpbounds`, which every
HTTP listener shares): a cap with the same eviction, a read deadline for each request, an
idle timer counted from whole requests and responses (bytes of an unfinished request, or
HTTP/2 pings, keep no connection open), and a body of at most 65,535 bytes refused at its
headers when it announces more.
"""
from __future__ import annotations

import base64
import binascii
from typing import cast

from twisted.logger import Logger
from twisted.web import http
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET

from skydns.listen.h2turns import install as _h2_in_turns
from skydns.listen.httpbounds import BoundedHTTPFactory, bounded_site
from skydns.query import wire

log = Logger(namespace="skydns.listen.doh")
_h2_in_turns()  # HTTP/2 streams served in turn, not through Twisted's priority tree (skydns.listen.h2turns)

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

    __slots__ = ("request",)

    def __init__(self, request):
        self.request = request

    def send(self, data: bytes, addr=None) -> None:
        request, self.request = self.request, None
        if request is None or request.finished or getattr(request, "_disconnected", False):
            return  # the client went away while its answer was being made
        request.setHeader(b"content-type", CONTENT_TYPE)
        request.setHeader(b"cache-control", b"max-age=%d" % max_age(data))
        request.setHeader(b"content-length", b"%d" % len(data))
        try:
            request.write(data)
            request.finish()
        except Exception as e:  # an HTTP/2 stream reset meanwhile (StreamClosedError), a connection gone
            log.debug("DoH reply not sent: the client went away ({error})", error=type(e).__name__)

    def gone(self, _failure) -> None:
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
        data = request.content.read(MAX_MESSAGE + 1)  # a larger body was refused (413) at its headers
        return self._query(request, data)

    def _query(self, request, data: bytes):
        if len(data) < 12:
            return _error(request, http.BAD_REQUEST, b"not a DNS message")
        answer = _Answer(request)
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


def site_factory(listener, clock=None) -> BoundedHTTPFactory:
    """The DoH site of ``listener`` behind its connection cap and time bounds (its ``limits``, swapped on reload)."""
    return BoundedHTTPFactory(bounded_site(_Root(listener), MAX_MESSAGE, access_log=False), listener, clock, "HTTPS")
