"""Writes that go straight to the socket (skydns.clients.dnsclient.eager_writes): no epoll registration for a
reply the kernel takes at once; Twisted's buffer for the rest, in order; beneath TLS, the ciphertext."""
import socket

from twisted.internet import protocol
from twisted.internet.abstract import FileDescriptor

from skydns.clients.dnsclient import eager_writes
from skydns.testing.server import call, eventually, reactor


class Keep(protocol.Protocol):
    def connectionMade(self):
        self.factory.made.append(self)


def serve():
    f = protocol.Factory.forProtocol(Keep)
    f.made = []
    port = call(reactor().listenTCP, 0, f, interface="127.0.0.1")
    return f, port


def test_a_small_write_goes_out_without_registering_the_socket():
    f, port = serve()
    try:
        c = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=5)
        assert eventually(lambda: f.made)
        p = f.made[0]
        call(eager_writes, p.transport)

        def write_and_look():
            p.transport.write(b"hello")
            return p.transport in reactor().getWriters()
        assert call(write_and_look) is False  # sent at once: not handed to epoll
        assert c.recv(100) == b"hello"
        c.close()
    finally:
        call(port.stopListening)


def test_what_the_kernel_does_not_take_is_buffered_in_order():
    f, port = serve()
    try:
        c = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=5)
        assert eventually(lambda: f.made)
        p = f.made[0]
        p.transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        call(eager_writes, p.transport)
        chunks = [bytes([i]) * 50_000 for i in range(1, 21)]  # 1 MB: more than the sockets take before a read

        def write_all():
            for chunk in chunks:
                p.transport.write(chunk)
            return p.transport in reactor().getWriters()
        assert call(write_all) is True  # the rest waits in Twisted's buffer, for epoll
        got = b""
        while len(got) < 1_000_000:
            got += c.recv(1 << 16)
        assert got == b"".join(chunks)
        c.close()
    finally:
        call(port.stopListening)


def test_beneath_a_wrapper_it_is_the_socket_transport_that_writes_at_once():
    class Wrapper:  # forwards unknown attributes, as Twisted's ProtocolWrapper (TLS) does
        def __init__(self, transport):
            self.transport = transport

        def __getattr__(self, name):
            return getattr(self.transport, name)

    f, port = serve()
    try:
        c = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=5)
        assert eventually(lambda: f.made)
        tcp = f.made[0].transport
        w = Wrapper(tcp)
        call(eager_writes, w)
        assert "write" not in w.__dict__ and "write" in tcp.__dict__ and isinstance(tcp, FileDescriptor)
        c.close()
    finally:
        call(port.stopListening)
