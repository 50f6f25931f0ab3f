"""Twisted protocols that carry DNS messages: UDP datagrams and length-framed TCP.

The project's small bridge between Twisted transports and DNS wire format:
protocols hand raw packets to the listener's current :class:`skydns.query.server.Server`
and send back what it answers; they never parse DNS themselves.
"""
from __future__ import annotations

import errno
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.logger import Logger

from skydns.clients.dnsclient import eager_writes, large_receive_buffer, no_delay

log = Logger(namespace="skydns.listen.transport")

#: Datagrams one read of a UDP port takes at most before the reactor serves the other descriptors.
READ_BURST = 1024
#: What ends a read of a UDP port, as in Twisted's: the socket is empty (or the call interrupted), or
#: it reports an ICMP error for an earlier reply.
_READ_ENDS = frozenset((errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.ECONNREFUSED, errno.ECONNRESET,
                        errno.ENETRESET, errno.ETIMEDOUT))


@dataclass(frozen=True)
class StreamLimits:
    """A listener's TCP limits, from the ``timeouts`` and ``tcp`` directives (seconds; 0: none)."""

    idle: float = 10.0
    read: float = 3.0
    write: float = 5.0
    max_connections: int = 200

    @classmethod
    def most_permissive(cls, limits: Iterable[StreamLimits]) -> StreamLimits:
        """What a listener shared by several blocks takes: the longest times, the largest cap."""
        limits = list(limits)
        caps = [x.max_connections for x in limits]
        return cls(max(x.idle for x in limits), max(x.read for x in limits), max(x.write for x in limits),
                   0 if 0 in caps else max(caps))


class Listener:
    """One listening address: what its protocols share, swapped on reload.

    ``transport`` is ``dns`` (UDP and TCP), ``tls`` (DNS over TLS) or ``https`` (DNS over
    HTTPS); ``tls`` is the :class:`skydns.listen.tlsconfig.SwappableServerTLS` of the last two.
    Usually one UDP and one stream port; sockets handed over by systemd may be several.
    """

    def __init__(self, host: str, port: int, server, limits: StreamLimits = StreamLimits(),
                 transport: str = "dns", tls=None):
        self.host = host
        self.port = port
        self.server = server
        self.limits = limits
        self.transport = transport
        self.tls = tls
        self.udp_ports: list = []  # IListeningPort
        self.stream_ports: list = []
        self.factory: Any = None  # the stream factory (DNSStreamFactory, or httpbounds.BoundedHTTPFactory for DoH)

    @property
    def udp(self):
        return self.udp_ports[0] if self.udp_ports else None

    @property
    def tcp(self):
        return self.stream_ports[0] if self.stream_ports else None

    @property
    def ports(self) -> list:
        return self.udp_ports + self.stream_ports

    def __repr__(self):
        return f"<Listener {self.transport}://{self.host}:{self.port}>"


class DNSDatagramProtocol(DatagramProtocol):
    """DNS over UDP: one query per datagram, the reply to the sender's address."""

    transport: Any

    def __init__(self, listener: Listener):
        self.listener = listener
        self._send_errors = 0
        self._sendto: Any = None
        self._recvfrom: Any = None
        self._v6 = False

    def startProtocol(self) -> None:
        # Replies go to the address recvfrom just gave: send on the socket itself, skipping
        # the port's checks of the address (three address parses per reply in Twisted 24).
        # And the port's reads are this protocol's own (read_port): every query, one call fewer.
        sock = getattr(self.transport, "socket", None)
        self._sendto = sock.sendto if sock is not None else None
        if sock is not None:
            large_receive_buffer(sock)
            self._recvfrom = sock.recvfrom
            self._v6 = sock.family == socket.AF_INET6
            self.transport.doRead = self.read_port

    def stopProtocol(self) -> None:
        self._sendto = self._recvfrom = None  # the port is done reading too: read_port reads nothing

    def read_port(self) -> None:
        """The port's ``doRead``: what Twisted's does (read until the socket is empty, the address cut to
        host and port, an error in handling logged), with each datagram straight to the server."""
        recvfrom = self._recvfrom
        if recvfrom is None:
            return
        handle = self.listener.server.handle_udp
        v6 = self._v6
        for _ in range(READ_BURST):
            try:
                data, addr = recvfrom(65535)
            except OSError as e:
                if e.errno in _READ_ENDS:
                    return
                raise
            if v6:
                addr = addr[:2]
            try:
                handle(data, addr, "udp", self)
            except Exception:
                log.failure("handling a datagram from {addr}", addr=addr)

    def datagramReceived(self, data: bytes, addr) -> None:
        self.listener.server.handle(data, addr, "udp", self)

    def send(self, data: bytes, addr) -> None:
        try:
            if self._sendto is not None:
                try:
                    self._sendto(data, addr)
                except InterruptedError:
                    self._sendto(data, addr)
            else:
                self.transport.write(data, addr)
        except Exception as e:  # EMSGSIZE, unreachable, closed socket: one query lost, not the server
            self._send_errors += 1
            if self._send_errors in (1, 100, 10000):
                log.warn("cannot send a UDP reply to {addr} ({count} so far): {error}",
                         addr=addr, count=self._send_errors, error=e)


class IdleTimer:
    """``expired()`` once nothing happened on a connection for ``seconds()`` (read each time: reloads change
    it), with one reactor timer: activity only notes the time (:meth:`touch`), and the timer, when it fires
    early, is set again for what is left. Setting a timer anew for every query and every reply cost two
    heap operations in Python each, in a heap of every connection's timers."""

    __slots__ = ("clock", "seconds", "expired", "last", "call")

    def __init__(self, clock, seconds, expired):
        self.clock, self.seconds, self.expired = clock, seconds, expired
        self.last = 0.0
        self.call: Any = None

    def touch(self) -> None:
        self.last = self.clock.seconds()
        if self.call is None:
            seconds = self.seconds()
            if seconds:
                self.call = self.clock.callLater(seconds, self._check)

    def _check(self) -> None:
        self.call = None
        seconds = self.seconds()
        if not seconds:
            return
        left = self.last + seconds - self.clock.seconds()
        if left > 0:
            self.call = self.clock.callLater(left, self._check)
        else:
            self.expired()

    def stop(self) -> None:
        if self.call is not None and self.call.active():
            self.call.cancel()
        self.call = None


class DNSStreamProtocol(Protocol):
    """DNS over TCP: two-byte length framing, pipelined queries, every resource bounded by time and bytes.

    * idle: a connection with no complete query (and no reply sent) for ``idle_timeout`` is closed;
      bytes of an incomplete query do not count, so a client dripping a byte at a time cannot
      keep it open;
    * read: a query must arrive whole within ``read_timeout`` of its first byte;
    * write: when replies are not read (the transport's buffer is full) the connection stops
      reading queries, and is closed if the client has not read for ``write_timeout`` or more
      than ``MAX_UNREAD`` bytes of replies wait for it.

    Behind TLS (:class:`skydns.listen.tlsserver.TLSServerFactory` wrapping :class:`DNSStreamFactory`, as
    a DNS-over-TLS listener does) the same bounds hold: tests/listen/test_transport.py.
    """

    transport: Any
    #: Reply bytes that may wait for a client that does not read, while reading is paused.
    MAX_UNREAD = 1 << 20

    def __init__(self, factory: DNSStreamFactory):
        self.factory = factory
        self.buffer = b""
        self.peer: tuple | None = None
        self.last_active = 0.0
        self.paused = False
        self.unread = 0  # bytes written while paused
        self.pending = 0  # whole queries not answered yet (the server is working for this client)
        self._idle = IdleTimer(factory.clock, self._idle_seconds, self._timed_out)
        self._read: Any = None
        self._write: Any = None
        self._streams: list = []  # iterators of messages being written (zone transfers), oldest first

    # -- timers -------------------------------------------------------------------------
    def _later(self, seconds: float, fn):
        return self.factory.clock.callLater(seconds, fn) if seconds else None

    @staticmethod
    def _cancel(call) -> None:
        if call is not None and call.active():
            call.cancel()

    def _idle_seconds(self) -> float:
        return self.factory.listener.limits.idle

    def _active(self) -> None:
        """A whole query came in, or a reply went out: the idle clock starts again."""
        idle = self._idle
        idle.touch()
        self.last_active = idle.last

    def _timed_out(self) -> None:
        self._close()

    def _close(self) -> None:
        """Close: gracefully when what was written drains, at once when the client does not read."""
        transport = self.transport
        if transport is not None and self.connected:
            if self.paused:
                transport.abortConnection()
            else:
                # No longer a producer first: a TCP connection that drains its writes while a producer is
                # registered hands the producer the turn instead of closing.
                transport.unregisterProducer()
                transport.loseConnection()

    # -- the connection -------------------------------------------------------------------
    def connectionMade(self) -> None:
        self.factory.opened(self)
        no_delay(self.transport)
        eager_writes(self.transport)
        addr = self.transport.getPeer()
        self.peer = (addr.host, addr.port)
        self.transport.registerProducer(self, True)  # told when replies pile up: pauseProducing
        self._active()

    def dataReceived(self, data: bytes) -> None:
        buf = self.buffer + data if self.buffer else data
        server = self.factory.listener.server
        whole = False
        while len(buf) >= 2:
            size = (buf[0] << 8) | buf[1]
            end = 2 + size
            if len(buf) < end:
                break
            frame = buf[2:end]
            buf = buf[end:]
            if size < 12:
                # Not even a DNS header: nothing sensible to answer on this stream.
                self.buffer = b""
                self._close()
                return
            whole = True
            self.pending += 1
            server.handle(frame, self.peer, "tcp", self)
            if not self.connected:
                return
        self.buffer = buf
        if whole:
            self._cancel(self._read)
            self._read = None
            self._active()
        if buf and self._read is None:
            self._read = self._later(self.factory.listener.limits.read, self._timed_out)

    def send(self, data: bytes, addr=None) -> None:
        transport = self.transport
        if transport is None or not self.connected or transport.disconnecting:
            return  # the client went away while its answer was being made
        if self.paused:
            self.unread += len(data) + 2
            if self.unread > self.MAX_UNREAD:
                self._close()
                return
        transport.writeSequence((len(data).to_bytes(2, "big"), data))
        if self.pending:
            self.pending -= 1
        self._active()

    def stream(self, messages, addr=None) -> None:
        """Write the messages of ``messages`` (an iterator of wire messages) as the client reads them."""
        self._streams.append(iter(messages))
        self._pump()

    def _pump(self) -> None:
        """Write stream messages until the transport says the client is behind (pauseProducing) or all are out."""
        while self._streams and not self.paused:
            transport = self.transport
            if transport is None or not self.connected or transport.disconnecting:
                return  # connectionLost closes the streams
            try:
                data = next(self._streams[0])
            except StopIteration:
                self._streams.pop(0)
                if self.pending:
                    self.pending -= 1
                self._active()
                continue
            except Exception:
                log.failure("a message stream failed; closing the connection")
                self._streams = []
                self._close()
                return
            transport.writeSequence((len(data).to_bytes(2, "big"), data))
            self._active()

    # -- backpressure (IPushProducer: the transport calls these) --------------------------
    def pauseProducing(self) -> None:
        """The client does not read its replies: read no more of its queries, for a while."""
        if not self.paused:
            self.paused = True
            self.unread = 0
            self.transport.stopReading()
            self._write = self._later(self.factory.listener.limits.write, self._timed_out)

    def resumeProducing(self) -> None:
        if self.paused:
            self.paused = False
            self._cancel(self._write)
            self._write = None
            if self.connected:
                self.transport.startReading()
                if self._streams:
                    self._pump()

    def stopProducing(self) -> None:
        self._close()

    def connectionLost(self, reason=None) -> None:
        self.connected = False  # answers still on their way are dropped (send) and arm no timer
        self._idle.stop()
        for call in (self._read, self._write):
            self._cancel(call)
        streams, self._streams = self._streams, []
        for stream in streams:  # a transfer ends with its connection (its generator's cleanup runs now)
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        self.factory.closed(self)


class ConnectionCap:
    """A listener's stream connections and its cap (``tcp { max_connections }``), for its factories.

    At the cap, a new connection takes the place of the one that has gone longest without a
    whole query or a reply (idle, dripping a query byte by byte, or not reading its replies),
    preferring to keep those whose queries are being answered: clients holding connections
    open, however they do it, cannot lock others out. Connections have ``pending``,
    ``last_active`` and ``_close()``.
    """

    def __init__(self, listener: Listener, kind: str):
        self.listener = listener
        self.kind = kind  # for the log line: "TCP", "HTTPS"
        self.connections: set = set()
        self.evicted = 0

    def make_room(self) -> None:
        cap = self.listener.limits.max_connections
        if cap and len(self.connections) >= cap:
            oldest = min(self.connections, key=lambda c: (c.pending > 0, c.last_active))
            self.evicted += 1
            if self.evicted in (1, 100, 10000):
                log.info("{listener}: at {cap} {kind} connections, closed the one without a query or reply "
                         "for longest to make room ({count} so far; tcp {{ max_connections }})",
                         listener=self.listener, cap=cap, kind=self.kind, count=self.evicted)
            self.connections.discard(oldest)  # its place is taken now, whenever it finishes closing
            oldest._close()

    def opened(self, protocol) -> None:
        self.connections.add(protocol)

    def closed(self, protocol) -> None:
        self.connections.discard(protocol)


class DNSStreamFactory(Factory, ConnectionCap):
    """Makes a protocol per TCP (or TLS) connection within the listener's cap (:class:`ConnectionCap`)."""

    noisy = False  # the service logs what it listens on

    def __init__(self, listener: Listener, clock=None):
        ConnectionCap.__init__(self, listener, "TCP")
        if clock is None:
            from twisted.internet import reactor as clock
        self.clock = clock

    def buildProtocol(self, addr):
        self.make_room()
        return DNSStreamProtocol(self)
