"""Shared sockets and connections to one DNS server (forward's ``expire``, as CoreDNS's reuse of connections).

Without ``expire``, UDP queries go out through a :class:`skydns.clients.portpool.PortPool`.

With a :class:`UDPPool` queries to one server share one connected UDP socket, kept
until it has been idle for ``expire`` seconds: no socket to open, bind, register and
close per query, and one reactor reader for all the answers. Every query still gets
a fresh random ID (one no other query in flight on the socket has); the source port
is the socket's, random when it was opened. A :class:`StreamPool` does the same over
one TCP or TLS connection (RFC 7766 pipelining). :meth:`dnsclient.Client.query` takes
either as its ``pool``.
"""
from __future__ import annotations

import socket
import struct
from typing import Any

from twisted.internet import defer
from twisted.internet.protocol import Protocol

from skydns.clients.dnsclient import (
    ExchangeError,
    SocketReader,
    _abort,
    _connect_tls,
    _Factory,
    connected_udp,
    large_receive_buffer,
    no_delay,
    random_u16,
    same_question,
)
from skydns.clients.outbox import Outbox


class _Shared:
    """What a shared UDP socket and a shared TCP/TLS connection have in common.

    The queries in flight, told apart by their IDs: each gets a random ID that
    no other query in flight has, and an answer is taken only for the ID and
    question of a query waiting. And the idle sweep: once nothing has been in
    flight for ``expire`` seconds, the socket or connection is closed; the next
    query opens a new one. Subclasses say whether it is open (``_is_open``) and
    how to close it (``_shut``).
    """

    #: Queries in flight above this go out on sockets of their own.
    MAX_PENDING = 10000

    #: How long a socket or connection replaced for its age still takes answers to the queries sent on it.
    DRAIN = 5.0

    def __init__(self, reactor, host: str, port: int, expire: float, source: str | None = None,
                 max_age: float = 0.0):
        self.reactor = reactor
        self.host, self.port, self.expire = host, port, expire
        self.source = source  # the local address to send from (forward's source_address)
        self.max_age = max_age  # replace the socket or connection once this old (0: never)
        self.pending: dict[int, tuple] = {}  # ID -> (question, done)
        #: IDs in flight for a raw relay that reads its answers itself (UDPPool.relay); ID -> the relay's entry
        self.relayed: dict[int, Any] = {}
        self.idle_since = 0.0
        self.opened = 0  # sockets or connections made, for tests and metrics
        self.opened_at = 0.0
        self._sweeper = None

    def _aged(self) -> bool:
        return bool(self.max_age) and self.reactor.seconds() - self.opened_at >= self.max_age

    def full(self) -> bool:
        return len(self.pending) >= self.MAX_PENDING

    def _register(self, question: bytes, done: defer.Deferred) -> int:
        """A random ID no query in flight has, now taken by this one."""
        pending = self.pending
        relayed = self.relayed
        qid = random_u16()
        while qid in pending or qid in relayed:
            qid = random_u16()
        pending[qid] = (question, done)
        return qid

    def finished(self, qid: int) -> None:
        """The query with ``qid`` is over (answered, failed or timed out)."""
        self.pending.pop(qid, None)
        self.settle()

    def settle(self) -> None:
        """When nothing is in flight any more, the idle countdown starts."""
        if not self.pending and not self.relayed:
            self.idle_since = self.reactor.seconds()
            if self._sweeper is None and self._is_open():
                self._sweeper = self.reactor.callLater(self.expire, self._sweep)

    def _answer(self, data: bytes) -> None:
        """An answer arrived: hand it to its query, or drop it (late, stray or forged)."""
        if len(data) < 12:
            return
        entry = self.pending.get(data[0] << 8 | data[1])
        if entry is not None and not entry[1].called and data[2] & 0x80 and same_question(data, entry[0]):
            entry[1].callback(data)

    def _fail_all(self, err: Exception) -> None:
        for _question, done in list(self.pending.values()):
            if not done.called:
                done.errback(err)

    def _sweep(self) -> None:
        self._sweeper = None
        if self.pending or self.relayed or not self._is_open():
            return
        idle = self.reactor.seconds() - self.idle_since
        if idle >= self.expire:
            self.close()
        else:
            self._sweeper = self.reactor.callLater(self.expire - idle, self._sweep)

    def discard(self) -> None:
        """A send failed: the shared socket or connection is not kept."""
        self.close()

    def close(self) -> None:
        if self._sweeper is not None and self._sweeper.active():
            self._sweeper.cancel()
        self._sweeper = None
        self._shut()

    @property
    def is_open(self) -> bool:
        """Is the shared socket or connection open now?"""
        return self._is_open()

    def _is_open(self) -> bool:
        raise NotImplementedError

    def _shut(self) -> None:
        raise NotImplementedError


class UDPPool(_Shared, SocketReader):
    """One connected UDP socket to one server, shared by every query in flight to it.

    One reactor reader for all the queries, so a burst of answers is read in
    one go. An error on the socket (port unreachable) closes it and fails the
    queries in flight on it; the next query opens a new one, with a new random
    port.
    """

    def __init__(self, reactor, host: str, port: int, expire: float, source: str | None = None,
                 max_age: float = 0.0):
        super().__init__(reactor, host, port, expire, source, max_age)
        self.sock: socket.socket | None = None
        self.outbox = Outbox(reactor)  # queries leave at the end of the reactor pass
        #: a raw relay sending on this socket with IDs of its own (``relayed``): it reads the socket while
        #: they are out (``read(pool)``) and is told when the socket breaks (``broken(err)``)
        self.relay: Any = None

    def send(self, query: bytes, question: bytes, done: defer.Deferred) -> int:
        """Send ``query`` with an ID free on the socket, when this reactor pass is over (a failure then fails
        it through ``done``, with what else is in flight on the socket); that ID, to give to :meth:`finished`."""
        sock = self.open_socket()
        qid = self._register(question, done)
        self.outbox.add(self, sock, struct.pack("!H", qid) + query[2:])
        return qid

    def open_socket(self) -> socket.socket:
        """The shared socket, opened when there is none (or replaced once ``max_age`` old). Raises OSError."""
        sock = self.sock
        if sock is not None and self.max_age and self._aged():
            # A new socket (a new random port); the old one still reads answers to what was sent on it.
            # The pool stops reading it first: the reactor keys readers by descriptor, and removing the
            # pool after the drainer was added would unregister the drainer's (same) descriptor.
            self.reactor.removeReader(self)
            _Draining(self.reactor, sock, self._answer, self.DRAIN)
            sock = self.sock = None
        if sock is None:
            sock = self.sock = connected_udp(self.host, self.port, self.source)
            large_receive_buffer(sock)  # answers to thousands of queries in flight may arrive at once
            self.opened += 1
            self.opened_at = self.reactor.seconds()
            self.reactor.addReader(self)
        return sock

    def send_failed(self, sock: socket.socket, error: OSError) -> None:
        """A send from the outbox failed: the socket is not kept, and what is in flight on it moves on."""
        if sock is self.sock:
            self._broken(ExchangeError(f"cannot send to {self.host}:{self.port}: {error.strerror or error}"))

    def doRead(self):
        relay = self.relay
        if relay is not None and self.relayed:
            relay.read(self)  # the relay reads its answers, and hands the pool the others (_answer)
            return
        _read_datagrams(self, self._answer, self._broken, 256, self.pending)  # an error: this socket is done

    def connectionLost(self, reason=None):
        self._broken(ExchangeError("connection refused"))

    def _broken(self, err: Exception) -> None:
        self.close()
        self._fail_all(err)
        if self.relay is not None and self.relayed:
            self.relay.broken(err)

    def _is_open(self) -> bool:
        return self.sock is not None

    def _shut(self) -> None:
        self.close_socket()


def _read_datagrams(owner, deliver, broken, limit: int, pending: dict | None = None) -> None:
    """Read what ``owner.sock`` holds (at most ``limit`` datagrams), each to ``deliver``; an error on the
    socket (ICMP port unreachable and friends) to ``broken``. For the readers of shared and retired sockets.
    With ``pending`` (the queries waiting), stop once none is: the usual last read finds no datagram
    and raises, which costs more than the read."""
    for _ in range(limit):
        sock = owner.sock
        if sock is None:
            return
        try:
            data = sock.recv(65535)
        except BlockingIOError:
            return
        except OSError as e:
            broken(ExchangeError(f"{e.strerror or e}"))
            return
        deliver(data)
        if pending is not None and not pending:
            return


class _Draining(SocketReader):
    """A UDP socket retired for its age: answers still arriving on it are read for ``seconds``, then it closes."""

    def __init__(self, reactor, sock: socket.socket, answer, seconds: float):
        self.reactor, self.answer = reactor, answer
        self.sock = sock
        reactor.addReader(self)
        reactor.callLater(seconds, self.close_socket)

    def doRead(self):
        _read_datagrams(self, self.answer, lambda _err: self.close_socket(), 64)

    def connectionLost(self, reason=None):
        self.close_socket()


class _SharedStream(Protocol):
    transport: Any
    """The connection of a StreamPool: writes its queries, hands it every answer frame."""

    def __init__(self, pool: StreamPool):
        self.pool = pool
        self.buffer = b""

    def connectionMade(self):
        no_delay(self.transport)
        self.pool._connected(self)

    def dataReceived(self, data):
        buf = self.buffer + data if self.buffer else data
        while len(buf) >= 2:
            end = 2 + (buf[0] << 8 | buf[1])
            if len(buf) < end:
                break
            self.pool._answer(buf[2:end])
            buf = buf[end:]
        self.buffer = buf

    def connectionLost(self, reason=None):
        self.pool._lost(self, reason)


class StreamPool(_Shared):
    """One TCP or TLS connection to one server, shared by every query in flight to it.

    Queries are written one after another on the connection (RFC 7766
    pipelining). If the connection fails or closes, the queries in flight on it
    fail (and move on to the next upstream) and the next query opens a new one.
    For DNS over TLS this saves a handshake per query.
    """

    def __init__(self, reactor, host: str, port: int, expire: float, tls=None, connect_timeout: float = 2.0,
                 source: str | None = None, max_age: float = 0.0):
        super().__init__(reactor, host, port, expire, source, max_age)
        self.tls = tls
        self.connect_timeout = connect_timeout
        self.conn: _SharedStream | None = None  # the connected protocol
        self.connector: Any = None  # while connecting
        self.waiting: list[bytes] = []  # frames written once connected

    def send(self, query: bytes, question: bytes, done: defer.Deferred) -> int:
        if self.conn is not None and self.max_age and self._aged():
            # A new connection; the old one answers what was sent on it, then closes.
            old, self.conn = self.conn, None
            self.reactor.callLater(self.DRAIN, _abort, old)
        qid = self._register(question, done)
        frame = struct.pack("!HH", len(query), qid) + query[2:]
        if self.conn is not None:
            self.conn.transport.write(frame)
        else:
            self.waiting.append(frame)
            if self.connector is None:
                self._connect()
        return qid

    def _connect(self) -> None:
        factory = _Factory(lambda addr: _SharedStream(self), lambda connector, reason: self._failed(
            connector, ExchangeError(f"cannot connect to {self.host}:{self.port}: {reason.getErrorMessage()}")))
        self.opened += 1
        self.opened_at = self.reactor.seconds()
        bind = (self.source, 0) if self.source else None
        if self.tls is not None:
            self.connector = _connect_tls(self.reactor, self.host, self.port, factory, self.tls, self.connect_timeout,
                                          bind)
        else:
            self.connector = self.reactor.connectTCP(self.host, self.port, factory, timeout=self.connect_timeout,
                                                     bindAddress=bind)

    def _connected(self, conn: _SharedStream) -> None:
        self.conn = conn
        self.connector = None
        frames, self.waiting = self.waiting, []
        if frames:
            conn.transport.writeSequence(frames)

    def _failed(self, connector, err: Exception) -> None:
        if connector is self.connector:
            self.connector = None
            self.waiting = []
            self._fail_all(err)

    def _lost(self, conn, reason) -> None:
        if conn is self.conn:
            self.conn = None
            self.waiting = []
            self._fail_all(ExchangeError("connection closed before an answer"))

    def _is_open(self) -> bool:
        return self.conn is not None or self.connector is not None

    def _shut(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None and conn.transport is not None:
            conn.transport.abortConnection()
        connector, self.connector = self.connector, None
        if connector is not None and getattr(connector, "state", None) == "connecting":
            connector.stopConnecting()
        self.waiting = []
