"""Sending one DNS query to one server, on Twisted: UDP, TCP or TLS.

Every query goes out with a fresh random ID from a fresh socket (so a fresh
random source port), and only an answer with that ID and the same question
is taken: anything else is dropped, as a spoofed or stray packet. Sockets,
connections and timers are released when the exchange ends, however it ends.

Queries to one server can share one socket or connection instead
(:mod:`skydns.clients.pools`, forward's ``expire``).

Queries and answers stay in wire format: the caller gets the answer's bytes.
"""
from __future__ import annotations

import os
import socket
import struct
from typing import Any

from twisted.internet import defer
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.logger import Logger

log = Logger(namespace="skydns.clients.dnsclient")
#: Sockets made non-blocking at creation (Linux), saving a system call per socket.
_NONBLOCK = getattr(socket, "SOCK_NONBLOCK", 0)


def default_max_inflight() -> int:
    """How many queries one plugin may have in flight to its nameservers by default: an eighth of the
    process's file descriptors (each query without ``expire`` holds a socket), at least 32. A silent
    nameserver then costs one plugin its queries, never the descriptors everything else needs."""
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        soft = 65536
    return max(32, soft // 8)


class ExchangeError(Exception):
    """The server did not give a usable answer (timeout, refused connection, closed stream)."""


class Timeout(ExchangeError):
    pass


def _random_ids():
    """A source of 16-bit numbers from the kernel's CSPRNG, 2,048 per 4 KiB read: a query ID (or a socket's
    pick) costs a list's pop, not a system call (SystemRandom makes one per number). The bytes are the same
    CSPRNG's; the reactor thread alone draws from it."""
    ids: list[int] = []
    pop = ids.pop
    unpack = struct.Struct("=2048H").unpack

    def u16() -> int:
        try:
            return pop()
        except IndexError:
            ids.extend(unpack(os.urandom(4096)))
            return pop()

    return u16


#: A fresh random 16-bit number (a query ID) from the kernel's CSPRNG.
random_u16 = _random_ids()


def with_new_id(query: bytes) -> tuple[int, bytes]:
    qid = random_u16()
    return qid, struct.pack("!H", qid) + query[2:]


def question_of(message: bytes) -> bytes | None:
    """The question section's bytes (lower-cased name), or None if it cannot be read."""
    if len(message) < 12:
        return None
    pos = 12
    try:
        length = message[pos]
        while length:
            if length > 63:
                return None
            pos += 1 + length
            length = message[pos]
        end = pos + 5
    except IndexError:
        return None
    if end > len(message):
        return None
    return message[12:end].lower()


def same_question(answer: bytes, question: bytes) -> bool:
    """Does ``answer`` ask ``question`` (from :func:`question_of`)? The same bytes, case aside: no walk."""
    return answer[12:12 + len(question)].lower() == question


def matches(answer: bytes, qid: int, question: bytes) -> bool:
    """Is ``answer`` the reply to our query: a response, our ID, our question?"""
    if len(answer) < 12 or not answer[2] & 0x80:
        return False
    if (answer[0] << 8 | answer[1]) != qid:
        return False
    return question_of(answer) == question


class SocketReader:
    """A socket of ours the reactor reads (its IReadDescriptor side): ``sock`` until :meth:`close`; through
    ``readers`` (a :class:`skydns.clients.readergroup.ReaderGroup`) when it has one, else the reactor itself."""

    reactor: Any
    readers: Any = None
    sock: socket.socket | None

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def logPrefix(self) -> str:
        return "dnsclient"

    def close_socket(self) -> None:
        """Stop reading, close the socket (once)."""
        if self.sock is not None:
            (self.readers or self.reactor).removeReader(self)
            self.sock.close()
            self.sock = None


class _UDPExchange(SocketReader):
    """A connected UDP socket of our own, read by the reactor: one query, one answer.

    Twisted's listenUDP would log every port it opens (one line per query);
    a connected socket also makes the kernel drop datagrams from other addresses.
    """

    def __init__(self, reactor, query: bytes, qid: int, question: bytes, done: defer.Deferred,
                 host: str, port: int, source: str | None = None):
        self.reactor = reactor
        self.qid, self.question, self.done = qid, question, done
        self.sock: socket.socket | None = connected_udp(host, port, source)
        try:
            self.sock.send(query)
        except OSError:
            self.sock.close()
            raise
        reactor.addReader(self)

    def doRead(self):
        sock = self.sock
        if sock is None:
            return
        for _ in range(16):
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            except OSError as e:  # ICMP port unreachable and friends
                if not self.done.called:
                    self.done.errback(ExchangeError(f"{e.strerror or e}"))
                return
            if not self.done.called and matches(data, self.qid, self.question):
                self.done.callback(data)
                return

    def connectionLost(self, reason=None):
        # The reactor reports a socket error (ICMP port unreachable: EPOLLERR) this way.
        if not self.done.called:
            why = "connection refused"
            try:
                err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if self.sock else 0
                if err:
                    why = os.strerror(err)
            except OSError:
                pass
            self.done.errback(ExchangeError(why))
        self.close()

    def close(self):
        self.close_socket()


def _abort(conn) -> None:
    if conn.transport is not None and conn.connected:
        conn.transport.abortConnection()


class _Factory(ClientFactory):
    """A client factory made of two functions: the protocol for an address, and what a failed connection does."""

    noisy = False  # no "Starting factory" line per connection

    def __init__(self, build, failed):
        self._build, self._failed = build, failed

    def buildProtocol(self, addr):
        return self._build(addr)

    def clientConnectionFailed(self, connector, reason):
        self._failed(connector, reason)


class _StreamExchange(Protocol):
    transport: Any
    def __init__(self, query: bytes, qid: int, question: bytes, done: defer.Deferred):
        self.query, self.qid, self.question, self.done = query, qid, question, done
        self.buffer = b""

    def connectionMade(self):
        no_delay(self.transport)
        self.transport.write(struct.pack("!H", len(self.query)) + self.query)

    def dataReceived(self, data):
        self.buffer += data
        while len(self.buffer) >= 2:
            size = struct.unpack("!H", self.buffer[:2])[0]
            if len(self.buffer) < 2 + size:
                return
            frame, self.buffer = self.buffer[2:2 + size], self.buffer[2 + size:]
            if not self.done.called and matches(frame, self.qid, self.question):
                self.done.callback(frame)
                self.transport.loseConnection()
                return

    def connectionLost(self, reason=None):
        if not self.done.called:
            self.done.errback(ExchangeError("connection closed before an answer"))


class Client:
    """Exchanges with servers; ``reactor`` is injectable; TLS options are made by the caller."""

    def __init__(self, reactor):
        self.reactor = reactor

    def query(self, query: bytes, host: str, port: int, proto: str = "udp", timeout: float = 2.0,
              tls=None, pool: Any = None, source: str | None = None) -> defer.Deferred:
        """Send ``query`` (its ID is replaced) and fire with the matching answer's bytes.

        ``proto`` is ``"udp"``, ``"tcp"``, ``"tls"`` (``tls``: a Twisted client
        TLS options object) or ``"https"`` (always with its pool). ``pool``: a UDPPool,
        StreamPool or dohclient.DoHPool for this server and protocol, to share its
        socket or connection. ``source``: the local address to send from.
        Fails with Timeout or ExchangeError.
        """
        question = question_of(query)
        done: defer.Deferred[bytes] = defer.Deferred()
        if pool is not None and not pool.full():
            cleanup = self._pooled(pool, query, question, done)  # the pool picks the ID
        else:
            qid, query = with_new_id(query)
            if proto == "udp":
                cleanup = self._udp(query, qid, question, host, port, done, source)
            else:
                cleanup = self._stream(query, qid, question, host, port, done, tls if proto == "tls" else None,
                                       timeout, source)
        timer = self.reactor.callLater(timeout, _expire, done, host, port, proto, timeout)

        def finish(result):
            if timer.active():
                timer.cancel()
            cleanup()
            return result

        return done.addBoth(finish)

    def _udp(self, query, qid, question, host, port, done, source=None):
        try:
            exchange = _UDPExchange(self.reactor, query, qid, question, done, host, port, source)
        except OSError as e:
            self.reactor.callLater(0, _fail, done, ExchangeError(f"cannot send to {host}:{port}: {e}"))
            return lambda: None
        return exchange.close

    def _pooled(self, pool, query, question, done):
        try:
            qid = pool.send(query, question, done)
        except OSError as e:
            pool.discard()  # a socket that cannot send is not kept
            self.reactor.callLater(0, _fail, done, ExchangeError(f"cannot send to {pool.host}:{pool.port}: {e}"))
            return lambda: None
        return lambda: pool.finished(qid)

    def _stream(self, query, qid, question, host, port, done, tls, timeout, source=None):
        protocols = []

        def build(addr):
            p = _StreamExchange(query, qid, question, done)
            protocols.append(p)
            return p

        factory = _Factory(build, lambda c, reason: _fail(
            done, ExchangeError(f"cannot connect to {host}:{port}: {reason.getErrorMessage()}")))
        bind = (source, 0) if source else None
        if tls is not None:
            connector = _connect_tls(self.reactor, host, port, factory, tls, timeout, bind)
        else:
            connector = self.reactor.connectTCP(host, port, factory, timeout=timeout, bindAddress=bind)

        def cleanup():
            for p in protocols:
                if p.transport is not None and p.connected:
                    p.transport.abortConnection()
            if getattr(connector, "state", None) == "connecting":
                connector.stopConnecting()

        return cleanup


def _connect_tls(reactor, host, port, factory, options, timeout, bind=None):
    """TLS over TCP with Twisted's modern client options (``optionsForClientTLS``)."""
    from twisted.protocols.tls import TLSMemoryBIOFactory

    wrapped = TLSMemoryBIOFactory(options, True, factory)  # it hands connection failures to factory
    wrapped.noisy = False
    return reactor.connectTCP(host, port, wrapped, timeout=timeout, bindAddress=bind)


#: What a UDP socket that many queries share asks the kernel to hold while the server is busy (unbound's
#: so-rcvbuf): a listener's, and forward's shared socket (``expire``). At the default (208 KiB, some 270
#: datagrams) a burst arriving while the process is held up (a garbage collection, a neighbour on its
#: core, a thousand answers at once) is dropped by the kernel.
RECEIVE_BUFFER = 4 << 20


def large_receive_buffer(sock, size: int = RECEIVE_BUFFER) -> None:
    """Ask for ``size`` bytes of receive buffer: beyond net.core.rmem_max where the process may
    (CAP_NET_ADMIN: SO_RCVBUFFORCE), up to it otherwise."""
    force = getattr(socket, "SO_RCVBUFFORCE", None)
    try:
        if force is None:
            raise OSError
        sock.setsockopt(socket.SOL_SOCKET, force, size)
    except OSError:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
        except OSError:
            pass


def connected_udp(host: str, port: int, source: str | None = None) -> socket.socket:
    """A non-blocking UDP socket connected to the server: connect picks a random free port
    (on ``source``, when given)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM | _NONBLOCK)
    try:
        if not _NONBLOCK:
            sock.setblocking(False)
        if source:
            sock.bind((source, 0))
        sock.connect((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def no_delay(transport) -> None:
    """Send each write at once (TCP_NODELAY) on a connection, beneath TLS too: queries and replies are
    small and each one is waited for; with Nagle's algorithm a second small write (an HTTP/2 DATA frame
    after its HEADERS) waits for the peer's delayed ACK."""
    while transport is not None:
        set_no_delay = getattr(transport, "setTcpNoDelay", None)
        if set_no_delay is not None:
            try:
                set_no_delay(True)
            except OSError:
                pass
            return
        transport = getattr(transport, "transport", None)  # TLS: the TCP transport beneath



def eager_writes(transport) -> None:
    """Send a write at once when nothing waits before it, on a connection (beneath TLS too).

    Twisted buffers every write and registers the socket with epoll until it can take it, then
    unregisters it: two ``epoll_ctl`` calls for each reply of a DNS connection, whose socket can
    almost always take a small reply at once. Here a write first goes straight to the socket when
    Twisted holds nothing unsent; what the kernel does not take (or an error) goes on to Twisted's
    own buffering, so order, back-pressure and errors stay Twisted's. Nothing changes for a
    transport without the parts of Twisted's file descriptors this relies on.
    """
    from twisted.internet.abstract import FileDescriptor

    # TLS (and other wrappers) lie beneath: the socket's own transport is the first FileDescriptor (a
    # type test: wrappers forward unknown attributes to what they wrap, so asking for one proves nothing)
    while transport is not None and not isinstance(transport, FileDescriptor):
        transport = transport.__dict__.get("transport")
    if transport is None or not all(hasattr(transport, a) for a in
                                    ("socket", "dataBuffer", "offset", "_tempDataLen", "_writeDisconnected")):
        return
    tcp: Any = transport  # a tcp.Connection: its socket and buffers
    buffered = tcp.write
    send = tcp.socket.send

    def write(data: bytes) -> None:
        # not once TLS is started on the connection itself (listenSSL, startTLS): its writes are plaintext
        if (data and tcp.connected and not tcp._writeDisconnected and not tcp._tempDataLen
                and tcp.offset == len(tcp.dataBuffer) and not getattr(tcp, "TLS", False)):
            try:
                sent = send(data)
            except OSError:  # full (EAGAIN) or broken: Twisted's buffer takes it, and reports errors itself
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        buffered(data)

    tcp.write = write


def _fail(done: defer.Deferred, err: Exception) -> None:
    if not done.called:
        done.errback(err)


def _expire(done, host, port, proto, timeout) -> None:
    if not done.called:
        done.errback(Timeout(f"no answer from {host}:{port} over {proto} in {timeout:g}s"))
