"""ReaderGroup: many sockets behind one reactor reader (an epoll set of their own), on real UDP sockets."""
import socket

import dns.message

from helpers import Logged
from helpers.upstreams import Upstream
from skydns import testing
from skydns.clients.dnsclient import Client
from skydns.clients.portpool import PortPool
from skydns.clients.readergroup import ReaderGroup


class Reactor:
    """What the group asks of a reactor: to be read, or not."""

    def __init__(self):
        self.readers = set()

    def addReader(self, r):
        self.readers.add(r)

    def removeReader(self, r):
        self.readers.discard(r)


class Sock:
    """A UDP socket the group reads; what it got, and whether it was told it is lost."""

    def __init__(self, fail=False):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.got, self.lost, self.fail = [], None, fail

    def fileno(self):
        return self.sock.fileno()

    def doRead(self):
        if self.fail:
            raise RuntimeError("a reader that breaks")
        while True:
            try:
                self.got.append(self.sock.recv(100))
            except BlockingIOError:
                return

    def connectionLost(self, reason=None):
        self.lost = reason


def send(to: Sock, data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(data, to.sock.getsockname())


def test_one_reactor_reader_for_every_socket_and_only_ready_ones_read():
    reactor = Reactor()
    group = ReaderGroup(reactor)
    socks = [Sock() for _ in range(20)]
    for s in socks:
        group.addReader(s)
    assert reactor.readers == {group} and len(group) == 20
    send(socks[3], b"three")
    send(socks[17], b"seventeen")
    group.doRead()
    assert socks[3].got == [b"three"] and socks[17].got == [b"seventeen"]
    assert all(not s.got for i, s in enumerate(socks) if i not in (3, 17))
    group.removeReader(socks[3])
    send(socks[3], b"not read")
    group.doRead()
    assert socks[3].got == [b"three"]
    group.close()
    assert reactor.readers == set() and group.fileno() == -1
    group.addReader(socks[0])  # and again after a close
    send(socks[0], b"zero")
    group.doRead()
    assert reactor.readers == {group} and socks[0].got == [b"zero"]


def test_a_reader_that_raises_is_dropped_and_the_others_still_read():
    reactor = Reactor()
    group = ReaderGroup(reactor)
    bad, good = Sock(fail=True), Sock()
    group.addReader(bad)
    group.addReader(good)
    send(bad, b"x")
    send(good, b"y")
    with Logged() as logged:
        group.doRead()
    assert good.got == [b"y"] and bad.lost is not None and len(group) == 1
    assert "a reader that breaks" in logged.text() and "reading a socket of dnsclient" in logged.text()


def test_the_reactor_dropping_the_group_tells_every_socket():
    group = ReaderGroup(Reactor())
    socks = [Sock() for _ in range(3)]
    for s in socks:
        group.addReader(s)
    group.connectionLost("gone")
    assert [s.lost for s in socks] == ["gone"] * 3 and len(group) == 0 and group.fileno() == -1


def test_the_port_pool_is_one_reader_of_the_reactor():
    """forward's port pool: dozens of sockets on random ports, one reactor reader, every answer taken."""
    up = Upstream()
    try:
        reactor = testing.reactor()
        before = testing.call(lambda: len(reactor.getReaders()))
        pool = PortPool(reactor, "127.0.0.1", up.port, size=8, uses=100)
        client = Client(reactor)
        queries = [dns.message.make_query(f"n{i}.example.", "A").to_wire() for i in range(40)]
        from twisted.internet import defer

        answers = testing.call(lambda: defer.gatherResults(
            [client.query(q, "127.0.0.1", up.port, "udp", 3.0, None, pool) for q in queries]))
        assert len(answers) == 40 and len(pool.readers) > 1
        assert testing.call(lambda: len(reactor.getReaders())) == before + 1
        testing.call(pool.close)
        assert testing.call(lambda: len(reactor.getReaders())) == before and len(pool.readers) == 0
    finally:
        up.close()
