"""DNS over HTTPS (RFC 8484) on HTTP/1.1, with twisted.web: GET with ``?dns=`` and POST of
``application/dns-message`` at ``/dns-query``.

Every message goes to the listener's :class:`skydns.query.server.Server` like a TCP query
(``proto`` "tcp", ``transport`` "https"), and the reply comes back as the response body, with
``max-age`` the smallest TTL of the answer (RFC 8484 5.1). HTTP/2 connections are served by
:mod:`skydns.listen.doh.h2`; :mod:`skydns.listen.doh` picks one or the other per connection.
"""
from __future__ import annotations

from typing import cast

from twisted.logger import Logger
from twisted.web import http
from twisted.web.pages import notFound
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET

from skydns.listen.doh.message import CONTENT_TYPE, MAX_MESSAGE, PATH, BadRequest, from_base64url, max_age
from skydns.listen.httpbounds import bounded_site

log = Logger(namespace="skydns.listen.doh")


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
        try:
            data = from_base64url(values[0])
        except BadRequest as e:
            return _error(request, http.BAD_REQUEST, str(e).encode())
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


def site(listener):
    """The twisted.web Site of a DoH listener's HTTP/1.1 connections: ``/dns-query`` only, no access log."""
    return bounded_site(_Root(listener), MAX_MESSAGE, access_log=False)
