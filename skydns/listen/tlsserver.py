"""The TLS of DNS-over-TLS and DNS-over-HTTPS connections, on the standard library's ``ssl``: one
``SSLObject`` over two memory BIOs between the TCP connection and the protocol inside.

Twisted's ``TLSMemoryBIOProtocol`` does the same over pyOpenSSL, at a price paid on every connection
and every record: it declares each interface of the TCP transport on itself one at a time (about half a
millisecond of zope.interface per connection), and each record read or written is several cffi calls
and a ``WantReadError`` raised (3-4 us a record each way, against under 2 us here). With a thousand
clients each sending one query at a time, that was a third of the server's CPU per query.

What the protocol inside sees is a transport as Twisted's TLS gives it: ``write``, ``writeSequence``,
``loseConnection`` (a close_notify, then the TCP connection closed once written), ``abortConnection``,
producers (passed to the TCP connection: TLS adds no buffer of its own once the handshake is done),
``stopReading``/``startReading``, ``getPeer``/``getHost``, and ``negotiatedProtocol`` (ALPN). It is
connected at once, before the handshake (its timers bound a client that never finishes one); what it
writes before the handshake is done goes out when it is. With ``flusher`` (DNS over TLS), the writes
of one reactor pass leave in one TLS record (DoH's HTTP/2 joins its own).
"""
from __future__ import annotations

import ssl
from typing import Any

from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.logger import Logger
from zope.interface import implementer

from skydns.listen.flusher import Flusher

log = Logger()

#: What one read asks of the TLS: a record's plaintext is at most 16 KiB.
RECORD = 16384
#: Writes joined for the flusher are sent at once past this many bytes.
MAX_JOINED = 64 * 1024


@implementer(ISSLTransport)
class TLSServerProtocol(Protocol):
    """One TLS connection: TCP (``transport``) outside, ``inner`` inside."""

    negotiatedProtocol: bytes | None = None
    disconnecting = False
    transport: Any  # the TCP connection
    inner: Any

    def __init__(self, factory: TLSServerFactory, inner: Protocol):
        self.factory, self.inner = factory, inner
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls: Any = factory.tls.server(self._in, self._out)
        self._ready = False  # the handshake is done
        self._lost = False
        self._held: list[bytes] = []  # writes waiting for the handshake, or for the flusher
        self._held_bytes = 0
        self._flusher = factory.flusher

    # -- the TCP connection's side -------------------------------------------------------------------
    def connectionMade(self) -> None:
        self.inner.makeConnection(self)

    def dataReceived(self, data: bytes) -> None:
        self._in.write(data)
        if not self._ready and not self._handshake():
            return
        tls, incoming, deliver = self._tls, self._in, self.inner.dataReceived
        while incoming.pending or tls.pending():
            try:
                plain = tls.read(RECORD)
            except ssl.SSLWantReadError:  # part of a record: the rest comes with more bytes
                break
            except ssl.SSLError as e:
                self._fail(e)
                return
            if not plain:  # the client's close_notify: ours back, and closed
                self.loseConnection()
                return
            deliver(plain)
            if self._lost or self.disconnecting:
                return
        if self._out.pending:  # what reading made (a key update's answer, say)
            self.transport.write(self._out.read())

    def _handshake(self) -> bool:
        """Go on with the handshake; True once it is done (then what waited for it is written)."""
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            if self._out.pending:
                self.transport.write(self._out.read())
            return False
        except (ssl.SSLError, ValueError) as e:
            self._fail(e)
            return False
        self._ready = True
        alpn = self._tls.selected_alpn_protocol()
        self.negotiatedProtocol = alpn.encode() if alpn else None
        self._flush()  # what waited for the handshake, with its last bytes
        if self._out.pending:
            self.transport.write(self._out.read())
        return True

    def _fail(self, error: Exception) -> None:
        """A handshake refused or a record that does not decrypt: the alert (if any) out, and closed."""
        log.debug("TLS from {peer}: {error}", peer=self.transport.getPeer(), error=error)
        if self._out.pending:
            self.transport.write(self._out.read())
        self.disconnecting = True
        self.transport.loseConnection()

    def connectionLost(self, reason=None) -> None:
        if self._lost:
            return
        self._lost = True
        self.connected = False
        self._held = []
        inner, self.inner = self.inner, None
        if inner is not None:
            inner.connectionLost(reason)

    # -- the inner protocol's transport ----------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self._lost or self.disconnecting or not data:
            return
        flusher = self._flusher
        if not self._ready or flusher is not None:
            held = self._held
            if not held and flusher is not None and self._ready:
                flusher.add(self)
            held.append(data)
            self._held_bytes += len(data)
            if self._ready and self._held_bytes >= MAX_JOINED:
                self._flush()
            return
        self._tls.write(data)
        self.transport.write(self._out.read())

    def writeSequence(self, data) -> None:
        self.write(b"".join(data))

    def _flush(self) -> None:
        """What was held (a reactor pass's writes, or those made before the handshake), in one record."""
        held = self._held
        if not held or self._lost or not self._ready:
            return
        self._held, self._held_bytes = [], 0
        self._tls.write(held[0] if len(held) == 1 else b"".join(held))
        self.transport.write(self._out.read())

    def loseConnection(self) -> None:
        if self.disconnecting or self._lost:
            return
        self._flush()
        self.disconnecting = True
        if self._ready:
            self._shutdown()
        else:
            self.transport.loseConnection()

    def _shutdown(self) -> None:
        """Our close_notify after what was written; the TCP connection closes once all of it is sent (the
        client's close_notify is not waited for: nothing more is read on a connection we close)."""
        try:
            self._tls.unwrap()
        except ssl.SSLError:  # SSLWantReadError: waiting for the client's, which does not matter here
            pass
        if self._out.pending:
            self.transport.write(self._out.read())
        self.transport.loseConnection()

    def abortConnection(self) -> None:
        if self._lost:
            return
        self.disconnecting = True
        self.transport.abortConnection()

    def registerProducer(self, producer, streaming) -> None:
        self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self.transport.unregisterProducer()

    def stopReading(self) -> None:
        self.transport.stopReading()

    def startReading(self) -> None:
        self.transport.startReading()

    def pauseProducing(self) -> None:
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        self.transport.stopProducing()

    def setTcpNoDelay(self, enabled) -> None:
        self.transport.setTcpNoDelay(enabled)

    def getTcpNoDelay(self):
        return self.transport.getTcpNoDelay()

    def getPeer(self):
        return self.transport.getPeer()

    def getHost(self):
        return self.transport.getHost()

    def getPeerCertificate(self) -> bytes | None:
        """The client's certificate (DER), when it gave one (``client_auth``)."""
        return self._tls.getpeercert(binary_form=True) if self._ready else None


class TLSServerFactory(ServerFactory):
    """The connections of a TLS listener: ``wrapped``'s protocols inside TLS from ``tls`` (a
    :class:`skydns.listen.tlsconfig.SwappableServerTLS`); ``flusher`` joins each pass's writes."""

    noisy = False

    def __init__(self, tls, wrapped, flusher: Flusher | None = None):
        self.tls, self.wrappedFactory, self.flusher = tls, wrapped, flusher

    def logPrefix(self) -> str:
        return f"{self.wrappedFactory.logPrefix()} (TLS)"

    def doStart(self) -> None:
        self.wrappedFactory.doStart()

    def doStop(self) -> None:
        self.wrappedFactory.doStop()

    def buildProtocol(self, addr):
        inner = self.wrappedFactory.buildProtocol(addr)
        if inner is None:
            return None
        return TLSServerProtocol(self, inner)
