"""The protocols on their own: UDP's read and send paths (a failing handler logged, failed sends counted and
logged once); the stream bounds under TLS."""
import socket

import pytest

from helpers import Logged
from skydns import testing
from skydns.listen.transport import DNSDatagramProtocol, Listener, StreamLimits


def test_udp_send_on_the_socket_and_failed_sends_are_counted():
    reactor = testing.reactor()
    proto = DNSDatagramProtocol(Listener("127.0.0.1", 0, None))
    port = testing.call(reactor.listenUDP, 0, proto, interface="127.0.0.1")
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(3)
    try:
        assert proto._sendto is not None  # the socket's own sendto, set when the port started
        with Logged() as logged:
            testing.call(proto.send, b"x" * 70000, client.getsockname())  # EMSGSIZE: lost, counted, logged
            testing.call(proto.send, b"y" * 70000, client.getsockname())
        assert proto._send_errors == 2
        warnings = logged.warnings("skydns.listen.transport")
        assert len(warnings) == 1 and "cannot send a UDP reply" in warnings[0] and "(1 so far)" in warnings[0]
        testing.call(proto.send, b"reply", client.getsockname())
        data, addr = client.recvfrom(100)
        assert data == b"reply" and addr == ("127.0.0.1", port.getHost().port)
    finally:
        client.close()
        testing.call(port.stopListening)
    assert proto._sendto is None


class Picky:
    """A server that echoes each datagram to its sender, and fails on ``boom``."""

    def __init__(self):
        self.seen = []

    def handle(self, data, client, proto, sender):
        self.seen.append((data, client, proto))
        if data == b"boom":
            raise ValueError("a handler's bug")
        sender.send(b"echo " + data, client)

    handle_udp = handle  # what the UDP port calls (a Server's express lane, when it has one)


@pytest.mark.parametrize("family, host", [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")])
def test_udp_reads_every_datagram_to_the_server_and_survives_a_failing_handler(family, host):
    """The port's reads are the protocol's (read_port): each datagram to the listener's server with the
    client's (host, port) (IPv6's flow and scope cut off), an error in handling logged and the rest served."""
    reactor = testing.reactor()
    server = Picky()
    proto = DNSDatagramProtocol(Listener(host, 0, server))
    port = testing.call(reactor.listenUDP, 0, proto, interface=host)
    assert port.doRead == proto.read_port
    client = socket.socket(family, socket.SOCK_DGRAM)
    client.bind((host, 0))
    client.settimeout(3)
    try:
        with Logged() as logged:
            for payload in (b"one", b"boom", b"two"):
                client.sendto(payload, (host, port.getHost().port))
            got = {client.recvfrom(100)[0] for _ in range(2)}
        assert got == {b"echo one", b"echo two"}
        me = client.getsockname()[:2]
        assert [(d, c, p) for d, c, p in server.seen] == [(b"one", me, "udp"), (b"boom", me, "udp"),
                                                          (b"two", me, "udp")]
        assert len(logged.lines("skydns.listen.transport", "critical")) == 1 and "a handler's bug" in logged.text()
    finally:
        client.close()
        testing.call(port.stopListening)
    assert proto._recvfrom is None and testing.call(proto.read_port) is None  # stopped: reads nothing


class Echo:
    """A server that answers every query with its own bytes padded to ``size``."""

    def __init__(self, size=100):
        self.size = size

    def handle(self, frame, peer, transport, sender):
        sender.send(frame + b"\0" * (self.size - len(frame)))


def tls_listener(tmp_path, server, read=1.0, write=1.0):
    """DNSStreamFactory behind the listeners' TLS, as a DNS-over-TLS listener has it."""
    from helpers.certs import make_pki
    from skydns.listen.flusher import Flusher
    from skydns.listen.tlsconfig import ServerTLS, SwappableServerTLS
    from skydns.listen.tlsserver import TLSServerFactory
    from skydns.listen.transport import DNSStreamFactory

    pki = make_pki(tmp_path)
    reactor = testing.reactor()
    listener = Listener("127.0.0.1", 0, server, StreamLimits(read=read, write=write))
    factory = TLSServerFactory(SwappableServerTLS(ServerTLS(pki["server"], pki["server_key"]), (b"dot",)),
                               DNSStreamFactory(listener, reactor), Flusher(reactor))
    return testing.call(reactor.listenTCP, 0, factory, interface="127.0.0.1")


def tls_connect(port):
    import ssl as pyssl

    context = pyssl.SSLContext(pyssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = pyssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=3)
    return context.wrap_socket(raw)


def test_tls_keeps_the_stream_bounds(tmp_path):
    """The TCP bounds hold under TLS (what a DNS-over-TLS listener gets by wrapping the stream
    factory): answered; a dripping client closed by the read deadline; a client that does not read
    its replies closed by the write deadline."""
    import struct
    import time

    port = tls_listener(tmp_path, Echo(3000))
    try:
        s = tls_connect(port)
        s.sendall(struct.pack("!H", 12) + b"q" * 12)
        head = s.recv(2)
        assert struct.unpack("!H", head)[0] == 3000
        s.close()

        drip = tls_connect(port)
        drip.sendall(b"\x00\x20")
        start, gone = time.monotonic(), False
        drip.settimeout(0.2)
        while time.monotonic() - start < 5 and not gone:
            try:
                drip.sendall(b"x")
                gone = drip.recv(10) == b""
            except (TimeoutError, BlockingIOError):
                continue
            except OSError:
                gone = True
        assert gone and time.monotonic() - start < 3

        mute = tls_connect(port)
        mute.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        start, gone = time.monotonic(), False
        query = struct.pack("!H", 12) + b"q" * 12
        mute.settimeout(0.2)
        while time.monotonic() - start < 8 and not gone:
            try:
                mute.sendall(query * 50)
            except TimeoutError:
                continue
            except OSError:
                gone = True
        assert gone and time.monotonic() - start < 5
    finally:
        testing.call(port.stopListening)


def test_a_stream_ends_with_its_connection():
    """A transfer being written when its client goes away is closed at once (its clean-up runs, its slot
    in max_transfers is free), not when the garbage collector finds it."""
    from twisted.internet import task
    from twisted.internet.testing import StringTransport

    from skydns.listen.transport import DNSStreamFactory

    ended = []

    def messages():
        try:
            while True:
                yield b"\x00" * 100
        finally:
            ended.append(True)

    class Transport(StringTransport):
        def stopReading(self):
            pass

    factory = DNSStreamFactory(Listener("127.0.0.1", 0, Echo()), task.Clock())
    proto = factory.buildProtocol(None)
    proto.makeConnection(Transport())
    proto.pauseProducing()  # the client does not read: the stream waits
    stream = messages()
    next(stream)  # started, as a transfer's first message is
    proto.stream(stream)
    proto.connectionLost()
    assert ended == [True]


def test_udp_listeners_ask_for_a_large_receive_buffer(tmp_path):
    """A burst that arrives while the server is held up waits in the kernel (not dropped at 208 KiB)."""
    import os

    from skydns.clients.dnsclient import RECEIVE_BUFFER

    with open("/proc/sys/net/core/rmem_max") as f:
        rmem_max = int(f.read())
    with testing.serve(".:0 {\n whoami\n}\n", tmp_path) as srv:
        listener = next(iter(srv.service.listeners.values()))
        sock = listener.udp.socket
        got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)  # Linux reports twice what was set
        if os.geteuid() == 0:
            assert got >= 2 * RECEIVE_BUFFER  # SO_RCVBUFFORCE: past rmem_max
        else:
            assert got >= 2 * min(RECEIVE_BUFFER, rmem_max)
