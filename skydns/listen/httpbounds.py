"""HTTP on a leash: every HTTP listener (DNS over HTTPS, and the plugins' health, ready, metrics, records API)
bounds what one client can hold, as the DNS-over-TCP listener does.

* **Bodies**: a request announcing more than the site's ``max_body`` (Content-Length), or sending more
  (chunked, HTTP/2 DATA), gets 413 at once and the connection is closed: nothing past the limit is read
  into memory or spooled to disk.
* **Time**: a request must arrive whole (request line, headers and body) within ``read`` seconds of its
  first byte (HTTP/1.x: a client dripping a header line at a time is closed), and a connection with no
  request in progress is closed after ``idle`` seconds; bytes that are no whole request (or HTTP/2 pings)
  do not extend either.
* **Connections**: at most ``max_connections`` per listener; at the cap a new connection takes the place of
  the one that has gone longest without a request or a response (:class:`skydns.listen.transport.ConnectionCap`).
"""
from __future__ import annotations

from typing import Any

from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.web.http import combinedLogFormatter
from twisted.web.server import Request, Site

from skydns.clients.dnsclient import eager_writes, no_delay
from skydns.listen.transport import ConnectionCap, IdleTimer, StreamLimits

#: What the plugins' HTTP listeners allow: small bodies (the records API takes up to 64 KiB of JSON),
#: a request within 10 s, 30 s without one, 100 connections.
DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_LIMITS = StreamLimits(idle=30.0, read=10.0, write=10.0, max_connections=100)


class BoundedRequest(Request):
    """A request whose body stops at the site's ``max_body``, and that tells its connection how it goes."""

    max_body = DEFAULT_MAX_BODY
    _received = 0
    _refused = False

    def gotLength(self, length):
        conn = connection_of(self)
        if conn is not None:
            conn.request_started()
        if length is not None and length > self.max_body:
            self._refuse()
            return
        super().gotLength(length)

    def handleContentChunk(self, data):
        if self._refused:
            return
        self._received += len(data)
        if self._received > self.max_body:
            self._refuse()
            return
        super().handleContentChunk(data)

    def _refuse(self) -> None:
        """413 before the body is read (as far as HTTP allows), and the connection closed."""
        self._refused = True
        channel = self.channel
        if getattr(channel, "streamID", None) is not None:  # an HTTP/2 stream
            channel.writeHeaders(b"HTTP/2", b"413", b"Payload Too Large", [(b"content-length", b"0")])
            channel.abortConnection()  # type: ignore[attr-defined]
            return
        transport = getattr(channel, "transport", None)
        if transport is not None:
            transport.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            transport.loseConnection()

    def requestReceived(self, command, path, version):
        if self._refused:
            return
        conn = connection_of(self)
        if conn is not None:
            conn.request_complete()
        super().requestReceived(command, path, version)


def bounded_request(max_body: int) -> type[BoundedRequest]:
    """A request class whose bodies stop at ``max_body`` bytes (a Site's ``requestFactory``)."""
    return type("BoundedRequest", (BoundedRequest,), {"max_body": max_body})


def connection_of(request) -> BoundedConnection | None:
    """The bounded connection a request came on (an HTTP/1.1 channel's transport, or an HTTP/2 stream's)."""
    channel = getattr(request, "channel", None)
    conn = getattr(channel, "_conn", channel)  # an HTTP/2 stream's connection
    transport = getattr(conn, "transport", None)
    return transport if isinstance(transport, BoundedConnection) else None


class BoundedConnection(ProtocolWrapper):
    """One HTTP connection (inside TLS when there is one): its requests counted, its time bounded."""

    factory: BoundedHTTPFactory
    #: HTTP/2 (ALPN's h2, or set by the protocol that reads a cleartext preface); None until known
    multiplexed: bool | None = None
    #: the connection is lost (ProtocolWrapper keeps ``connected`` set): answers still on their way
    #: arm no timer, and nothing is closed twice
    gone = False

    def __init__(self, factory, wrapped):
        super().__init__(factory, wrapped)
        self.pending = 0  # requests whose headers came and whose response has not gone out
        self.last_active = 0.0
        self._idle = IdleTimer(factory.clock, self._idle_seconds, self._idle_expired)
        self._read: Any = None

    # -- the timers ---------------------------------------------------------------------------
    def _cancel(self, name: str) -> None:
        call = getattr(self, name)
        if call is not None and call.active():
            call.cancel()
        setattr(self, name, None)

    def _active(self) -> None:
        """A whole request came, or a response went: the idle clock starts again (it runs while no request
        is pending)."""
        if self.gone:  # a response to a request of a closed connection: no timer for what is gone
            return
        idle = self._idle
        idle.touch()
        self.last_active = idle.last

    def _idle_seconds(self) -> float:
        return self.factory.limits.idle

    def _idle_expired(self) -> None:
        if not self.pending:  # else the response, when it goes, starts the clock again
            self._close()

    def dataReceived(self, data: bytes) -> None:
        # HTTP/1.x: the first byte of a request starts its read deadline (HTTP/2 multiplexes: idle bounds it)
        if self._read is None and not self.pending and self.factory.limits.read:
            multiplexed = self.multiplexed
            if multiplexed is None:  # asked once: ALPN's answer is a call into OpenSSL
                multiplexed = self.multiplexed = getattr(self.transport, "negotiatedProtocol", None) == b"h2"
            if not multiplexed:
                self._read = self.factory.clock.callLater(self.factory.limits.read, self._close)
        super().dataReceived(data)

    # -- what requests tell it ------------------------------------------------------------------
    def request_started(self) -> None:
        """A request's headers are in."""
        self.pending += 1
        self._active()

    def request_complete(self) -> None:
        """A request arrived whole (its body too): no read deadline while it is answered."""
        self._cancel("_read")

    def replied(self) -> None:
        """A response went out (or its request was dropped)."""
        if self.pending:
            self.pending -= 1
        self._active()

    # -- the connection -------------------------------------------------------------------------
    def _close(self) -> None:
        self._read = None
        if self.transport is not None and self.connected and not self.gone:
            self.transport.abortConnection()

    def connectionMade(self) -> None:
        self.factory.opened(self)
        no_delay(self.transport)
        eager_writes(self.transport)
        self._active()
        super().connectionMade()

    def connectionLost(self, reason=None) -> None:
        self.gone = True
        self._idle.stop()
        self._cancel("_read")
        self.factory.closed(self)
        super().connectionLost(reason)


class _Limits:
    """What ConnectionCap reads: a listener's limits."""

    def __init__(self, limits: StreamLimits, name: str):
        self.limits = limits
        self.name = name

    def __repr__(self) -> str:
        return self.name


class BoundedHTTPFactory(WrappingFactory, ConnectionCap):
    """A twisted.web Site behind the connection cap and the time bounds of ``limits`` (a
    :class:`~skydns.listen.transport.StreamLimits`, or the listener whose ``limits`` change on reload)."""

    protocol = BoundedConnection
    noisy = False

    def __init__(self, site: Site, listener, clock=None, kind: str = "HTTP"):
        ConnectionCap.__init__(self, listener, kind)
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock
        site.timeOut = None  # ours: the read and idle bounds above
        super().__init__(site)
        site.requestFactory = _tracked(site.requestFactory)

    @property
    def limits(self) -> StreamLimits:
        return self.listener.limits

    def buildProtocol(self, addr):
        self.make_room()
        return super().buildProtocol(addr)

    # WrappingFactory keeps its own registry of protocols; ConnectionCap's is the one used.
    def registerProtocol(self, p) -> None:
        pass

    def unregisterProtocol(self, p) -> None:
        pass


def _tracked(request_factory):
    """Requests that tell their connection when their response went out."""
    def make(*args, **kwargs):
        request = request_factory(*args, **kwargs)
        request.notifyFinish().addBoth(_finished, request)
        return request
    return make


def _finished(_result, request) -> None:
    conn = connection_of(request)
    if conn is not None:
        conn.replied()


def without_query(timestamp, request) -> str:
    """The combined access-log line with the query string left out: ``?token=`` (the records API takes its
    token there, as the fork's clients send it) and ``?dns=`` (a client's query) never reach the log."""
    uri, request.uri = request.uri, request.uri.split(b"?", 1)[0] + (b"?..." if b"?" in request.uri else b"")
    try:
        return combinedLogFormatter(timestamp, request)
    finally:
        request.uri = uri


class _QuietSite(Site):
    """A Site that writes no access log (DNS over HTTPS: the ``log`` plugin logs its queries)."""

    def log(self, request) -> None:
        pass


class _OperatorSite(Site):
    """A Site whose access log holds what an operator looks for: requests that change something (not GET
    or HEAD) and refused ones (4xx but 404). Probes of /health, /ready and /metrics every few seconds are
    not news; their plugins log when what they report changes."""

    def log(self, request) -> None:
        code = request.code or 200
        if request.method in (b"GET", b"HEAD") and not (400 <= code < 500 and code != 404):
            return
        super().log(request)


def bounded_site(resource, max_body: int = DEFAULT_MAX_BODY, access_log: bool | str = True) -> Site:
    """A Site for ``resource`` whose requests stop at ``max_body`` bytes; wrap it in a BoundedHTTPFactory.
    Its access log leaves query strings out; ``access_log=False`` writes none, ``"changes"`` only writes
    and refusals."""
    cls = {True: Site, False: _QuietSite, "changes": _OperatorSite}[access_log]
    site = cls(resource, requestFactory=bounded_request(max_body), logFormatter=without_query)
    site.noisy = False
    site.displayTracebacks = False
    return site


def fixed_limits(limits: StreamLimits = DEFAULT_LIMITS, name: str = "HTTP") -> _Limits:
    """A stand-in listener for a factory whose limits never change (the plugins' HTTP listeners)."""
    return _Limits(limits, name)
