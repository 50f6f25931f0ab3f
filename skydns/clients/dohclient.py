"""DNS over HTTPS upstreams (RFC 8484) for forward: POST or GET on kept HTTPS connections.

Twisted's :class:`~twisted.web.client.Agent` over a persistent connection pool:
connections to the upstream are kept (``max_idle_conns`` of them, idle for at most
``expire``) and reused, so a query costs an HTTP exchange, not a handshake. HTTP/1.1
(Twisted's client has no HTTP/2). Queries go out with ID 0 (RFC 8484 4.1: cache
friendly; HTTPS authenticates the answer); an answer is taken only when it is a DNS
response with ID 0 and the query's question.
"""
from __future__ import annotations

import base64
from typing import Any, cast

from twisted.internet import defer
from twisted.internet.protocol import Protocol
from twisted.web.client import Agent, HTTPConnectionPool, ResponseDone
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer, IPolicyForHTTPS
from zope.interface import implementer

from skydns.clients.dnsclient import ExchangeError, question_of

CONTENT_TYPE = b"application/dns-message"
#: Idle connections kept per upstream when max_idle_conns is 0 ("no limit" in CoreDNS).
UNLIMITED_IDLE = 1000


@implementer(IPolicyForHTTPS)
class _FixedTLS:
    """The TLS options forward made for this upstream (its CA, client certificate and server name)."""

    def __init__(self, options):
        self.options = options

    def creatorForNetloc(self, hostname, port):
        return self.options


class DoHPool:
    """The HTTPS connections to one DoH upstream, shared by every query sent to it."""

    def __init__(self, reactor, host: str, port: int, path: str, tls, method: str = "POST", expire: float = 10.0,
                 max_idle: int = 0, source: str | None = None, connect_timeout: float = 2.0):
        self.reactor = reactor
        self.host, self.port = host, port
        where = f"[{host}]" if ":" in host else host
        self.url = f"https://{where}:{port}{path}".encode()
        self.method = method
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = max_idle or UNLIMITED_IDLE
        self.pool.cachedConnectionTimeout = int(expire) or 1
        self.pool.retryAutomatically = False  # a failed query moves to the next upstream instead
        self.agent = Agent(reactor, contextFactory=_FixedTLS(tls), connectTimeout=connect_timeout,
                           bindAddress=(source, 0) if source else None, pool=self.pool)
        self.requests: dict[int, Any] = {}
        self._next = 0
        self.opened = 0  # exchanges started (connections are Twisted's)

    def full(self) -> bool:
        return False

    def send(self, query: bytes, question: bytes, done: defer.Deferred) -> int:
        """Start the exchange; ``done`` fires with the answer's bytes or fails. The token for :meth:`finished`."""
        body = b"\x00\x00" + query[2:]
        if self.method == "GET":
            q = base64.urlsafe_b64encode(body).rstrip(b"=")
            d = self.agent.request(b"GET", self.url + b"?dns=" + q, Headers({b"accept": [CONTENT_TYPE]}))
        else:
            d = self.agent.request(b"POST", self.url, Headers({b"content-type": [CONTENT_TYPE],
                                                               b"accept": [CONTENT_TYPE]}),
                                   cast(IBodyProducer, _Body(body)))
        self.opened += 1
        token = self._next = (self._next + 1) & 0xFFFFFFFF
        self.requests[token] = d
        d.addCallback(self._response)
        d.addCallback(_check, question)
        d.addCallbacks(lambda data: _fire(done, data), lambda f: _fail(done, f))
        return token

    def _response(self, response):
        if response.code != 200:
            response.deliverBody(_Discard())
            raise ExchangeError(f"HTTP status {response.code} from {self.url.decode()}")
        ctype = (response.headers.getRawHeaders(b"content-type") or [b""])[0].split(b";")[0].strip().lower()
        if ctype != CONTENT_TYPE:
            response.deliverBody(_Discard())
            raise ExchangeError(f"content-type {ctype.decode(errors='replace')!r} from {self.url.decode()}")
        done: defer.Deferred[bytes] = defer.Deferred()
        response.deliverBody(_BodyReader(done))
        return done

    def finished(self, token: int) -> None:
        d = self.requests.pop(token, None)
        if d is not None and not d.called:
            d.cancel()

    def discard(self) -> None:
        """A send failed: the connections are not kept."""
        self.close()

    def close(self):
        return self.pool.closeCachedConnections()


def _check(data: bytes, question: bytes) -> bytes:
    if len(data) < 12 or not data[2] & 0x80 or data[0] or data[1] or question_of(data) != question:
        raise ExchangeError("the DoH answer is not the answer to the query")
    return data


def _fire(done: defer.Deferred, data: bytes) -> None:
    if not done.called:
        done.callback(data)


def _fail(done: defer.Deferred, failure) -> None:
    if not done.called:
        err = failure.value if isinstance(failure.value, ExchangeError) else \
            ExchangeError(failure.getErrorMessage() or type(failure.value).__name__)
        done.errback(err)


@implementer(IBodyProducer)
class _Body:
    """A request body already in memory, written at once."""

    def __init__(self, body: bytes):
        self.body = body
        self.length = len(body)

    def startProducing(self, consumer):
        consumer.write(self.body)
        return defer.succeed(None)

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


class _BodyReader(Protocol):
    """The response body, at most one DNS message long (a larger one is not an answer: the exchange fails)."""

    def __init__(self, done: defer.Deferred):
        self.done = done
        self.parts: list[bytes] = []
        self.size = 0

    def dataReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > 65535:
            if not self.done.called:
                self.done.errback(ExchangeError("DoH answer longer than a DNS message"))
            if self.transport is not None:
                self.transport.stopProducing()
            return
        self.parts.append(data)

    def connectionLost(self, reason=None) -> None:
        if self.done.called:
            return
        if reason is None or reason.check(ResponseDone):
            self.done.callback(b"".join(self.parts))
        else:
            self.done.errback(ExchangeError(f"DoH answer cut short: {reason.getErrorMessage()}"))


class _Discard:
    def makeConnection(self, transport):
        pass

    def dataReceived(self, data):
        pass

    def connectionLost(self, reason):
        pass
