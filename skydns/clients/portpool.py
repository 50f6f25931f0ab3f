"""Forward's UDP queries without ``expire``: a few sockets on random ports per upstream, each for a few queries.

Unbound's outgoing range rather than one socket for the upstream's whole life
(:class:`skydns.clients.pools.UDPPool`, ``expire``) or a socket per query (SkyDNS):
no socket to open, bind, register and close per query, and still a random port that
lives for a handful of queries.
"""
from __future__ import annotations

import struct

from skydns.clients.dnsclient import ExchangeError, SocketReader, connected_udp, random_u16, same_question
from skydns.clients.outbox import Outbox
from skydns.clients.readergroup import ReaderGroup


class _PortSocket(SocketReader):
    """One socket of a :class:`PortPool`: connected to the server from a random port, for ``uses`` queries."""

    __slots__ = ("reactor", "readers", "sock", "pool", "pending", "sent")

    def __init__(self, pool: PortPool):
        self.reactor = pool.reactor
        self.readers = pool.readers
        self.pool = pool
        self.pending: dict[int, tuple] = {}  # ID -> (question, done)
        self.sent = 0
        self.sock = connected_udp(pool.host, pool.port, pool.source)
        pool.opened += 1
        self.readers.addReader(self)

    def doRead(self) -> None:
        # pools._read_datagrams with the answer matched inline: this runs for every relayed answer.
        # Until nothing is waiting here: the usual last read finds no datagram and raises, which costs
        # more than the read; a stray datagram left keeps the socket readable (epoll is level-triggered).
        pending = self.pending
        for _ in range(64):
            sock = self.sock
            if sock is None:
                return
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            except OSError as e:  # port unreachable: what is in flight here fails, the slot gets a new socket
                self._broken(ExchangeError(f"{e.strerror or e}"))
                return
            if len(data) >= 12:
                entry = pending.get(data[0] << 8 | data[1])
                if entry is not None and not entry[1].called and data[2] & 0x80 and same_question(data, entry[0]):
                    entry[1].callback(data)  # its owner says finished(): the entry goes
            if not pending:
                return

    def connectionLost(self, reason=None) -> None:
        self._broken(ExchangeError("connection refused"))

    def send_failed(self, sock, error: OSError) -> None:
        if sock is self.sock:
            self._broken(ExchangeError(f"cannot send to {self.pool.host}:{self.pool.port}: {error.strerror or error}"))

    def _broken(self, err: Exception) -> None:
        self.pool._retire(self)
        self.close_socket()
        for _question, done in list(self.pending.values()):
            if not done.called:
                done.errback(err)


class PortPool:
    """UDP queries to one server from ``size`` sockets on random ports, each used for at most ``uses`` queries.

    A query goes out on a socket picked at random, with a random ID no other query in flight on
    that socket has. A socket that has sent ``uses`` queries leaves the pool (a new one on a new
    random port takes its place when the slot is next picked) and closes once the answers to what
    it sent are in. Against a fresh socket per query this saves opening, binding, registering and
    closing one socket per query, and an off-path attacker still has to guess a random port of a
    short-lived socket and a random ID; sockets are the upstream's own (connected), so the ports
    the upstream sees tell nobody else anything.
    """

    MAX_PENDING = 10000
    #: Sockets are closed once nothing has been in flight for this long.
    IDLE = 2.0

    def __init__(self, reactor, host: str, port: int, size: int = 32, uses: int = 16, source: str | None = None):
        self.reactor = reactor
        self.host, self.port, self.source = host, port, source
        self.size, self.uses = size, uses
        self.slots: list[_PortSocket | None] = [None] * size
        self.readers = ReaderGroup(reactor, "forward")  # one reactor reader for all the sockets
        self.outbox = Outbox(reactor)  # queries leave at the end of the reactor pass, together
        self.retired: set[_PortSocket] = set()
        self.inflight = 0
        self.opened = 0  # sockets opened, for tests and metrics
        self.idle_since = 0.0
        self._sweeper = None

    @property
    def pending(self) -> dict:
        """Queries waiting for an answer, on every socket (for metrics)."""
        out: dict = {}
        for s in self.slots:
            if s is not None:
                out.update(s.pending)
        for s in self.retired:
            out.update(s.pending)
        return out

    @property
    def is_open(self) -> bool:
        return any(s is not None for s in self.slots)

    def full(self) -> bool:
        return self.inflight >= self.MAX_PENDING

    def send(self, query: bytes, question: bytes, done) -> tuple:
        """Send ``query`` on a random socket of the pool, when this reactor pass is over (a failure then fails it
        through ``done``, with what else is in flight on that socket); the token to hand :meth:`finished`."""
        i = random_u16() % self.size
        s = self.slots[i]
        if s is None:
            s = self.slots[i] = _PortSocket(self)
        pending = s.pending
        qid = random_u16()
        while qid in pending:
            qid = random_u16()
        self.outbox.add(s, s.sock, struct.pack("!H", qid) + query[2:])
        pending[qid] = (question, done)
        self.inflight += 1
        s.sent += 1
        if s.sent >= self.uses:
            self._retire(s)
        return (s, qid)

    def finished(self, token: tuple) -> None:
        """The query of ``token`` is over (answered, failed or timed out)."""
        s, qid = token
        if s.pending.pop(qid, None) is not None:
            self.inflight -= 1
        if not s.pending and s in self.retired:
            self.retired.discard(s)
            s.close_socket()
        if not self.inflight:
            self.idle_since = self.reactor.seconds()
            if self._sweeper is None:
                self._sweeper = self.reactor.callLater(self.IDLE, self._sweep)

    def discard(self) -> None:
        """A send failed: the socket's ``send_failed`` took it out already; the others stay."""

    def _sweep(self) -> None:
        """Close the sockets once the pool has been idle for IDLE seconds."""
        self._sweeper = None
        if self.inflight:
            return
        idle = self.reactor.seconds() - self.idle_since
        if idle >= self.IDLE:
            self.close()
        else:
            self._sweeper = self.reactor.callLater(self.IDLE - idle, self._sweep)

    def _retire(self, s: _PortSocket) -> None:
        for i, slot in enumerate(self.slots):
            if slot is s:
                self.slots[i] = None
                self.retired.add(s)
                return

    def close(self) -> None:
        """Close every socket; what is in flight on them fails."""
        if self._sweeper is not None and self._sweeper.active():
            self._sweeper.cancel()
        self._sweeper = None
        for s in [s for s in self.slots if s is not None] + list(self.retired):
            s.close_socket()
            for _question, done in list(s.pending.values()):
                if not done.called:
                    done.errback(ExchangeError("closed"))
        self.slots = [None] * self.size
        self.retired.clear()
        self.inflight = 0
        self.readers.close()
