"""Twisted protocols that carry DNS messages: UDP datagrams and length-framed TCP.

The project's small bridge between Twisted transports and DNS wire format:
protocols hand raw packets to the listener's current :class:`skydns.server.Server`
and send back what it answers; they never parse DNS themselves.
"""
from __future__ import annotations

from typing import Any

from twisted.internet.protocol import DatagramProtocol, Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin

log = Logger(namespace="skydns.transport")


class Listener:
    """One listening address: what both its protocols share, swapped on reload."""

    def __init__(self, host: str, port: int, server, idle_timeout: float, max_connections: int):
        self.host = host
        self.port = port
        self.server = server
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.udp = None  # IListeningPort
        self.tcp = None

    def __repr__(self):
        return f"<Listener {self.host}:{self.port}>"


class DNSDatagramProtocol(DatagramProtocol):
    """DNS over UDP: one query per datagram, the reply to the sender's address."""

    transport: Any

    def __init__(self, listener: Listener):
        self.listener = listener
        self._send_errors = 0
        self._sendto = None

    def startProtocol(self) -> None:
        # Replies go to the address recvfrom just gave: send on the socket itself, skipping
        # the port's checks of the address (three address parses per reply in Twisted 24).
        sock = getattr(self.transport, "socket", None)
        self._sendto = sock.sendto if sock is not None else None

    def stopProtocol(self) -> None:
        self._sendto = None

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


class DNSStreamProtocol(Protocol, TimeoutMixin):
    """DNS over TCP: two-byte length framing, pipelined queries, an idle timeout."""

    transport: Any

    def __init__(self, factory: DNSStreamFactory):
        self.factory = factory
        self.buffer = b""
        self.peer: tuple | None = None

    def connectionMade(self) -> None:
        self.factory.connections += 1
        addr = self.transport.getPeer()
        self.peer = (addr.host, addr.port)
        self.setTimeout(self.factory.listener.idle_timeout or None)

    def dataReceived(self, data: bytes) -> None:
        self.resetTimeout()
        buf = self.buffer + data if self.buffer else data
        server = self.factory.listener.server
        while len(buf) >= 2:
            size = (buf[0] << 8) | buf[1]
            end = 2 + size
            if len(buf) < end:
                break
            frame = buf[2:end]
            buf = buf[end:]
            if size < 12:
                # Not even a DNS header: nothing sensible to answer on this stream.
                self.transport.loseConnection()
                self.buffer = b""
                return
            server.handle(frame, self.peer, "tcp", self)
        self.buffer = buf

    def send(self, data: bytes, addr=None) -> None:
        transport = self.transport
        if transport is None or not self.connected or transport.disconnecting:
            return  # the client went away while its answer was being made
        transport.writeSequence((len(data).to_bytes(2, "big"), data))

    def timeoutConnection(self) -> None:
        self.transport.loseConnection()

    def connectionLost(self, reason=None) -> None:
        self.setTimeout(None)
        self.factory.connections -= 1


class DNSStreamFactory(Factory):
    """Makes a protocol per TCP connection, refusing connections above the listener's cap."""

    def __init__(self, listener: Listener):
        self.listener = listener
        self.connections = 0
        self.refused = 0

    def buildProtocol(self, addr):
        cap = self.listener.max_connections
        if cap and self.connections >= cap:
            self.refused += 1
            if self.refused in (1, 100, 10000):
                log.warn("{listener}: {count} TCP connection(s) refused, {cap} already open "
                         "(tcp {{ max_connections }})", listener=self.listener, count=self.refused, cap=cap)
            return None
        return DNSStreamProtocol(self)
