"""The outbox: queries to upstreams leave when the reactor pass that made them is over, in bounded bursts;
a send that fails fails the queries of its socket, which then moves on to a new one. Real UDP sockets on
loopback; the pass is a task.Clock's ``advance(0)`` in the unit tests, the real reactor in the pool tests."""
import socket

import dns.message
import pytest
from twisted.internet import defer, task

from skydns import testing
from skydns.clients.dnsclient import Client, ExchangeError, question_of
from skydns.clients.outbox import Outbox
from skydns.clients.pools import UDPPool
from skydns.clients.portpool import PortPool


class Owner:
    def __init__(self):
        self.failed = []

    def send_failed(self, sock, error):
        self.failed.append((sock, error))


@pytest.fixture
def receiver():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    yield sock
    sock.close()


def sender_to(receiver):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(receiver.getsockname())
    return sock


def received(receiver, count):
    return [receiver.recv(512) for _ in range(count)]


def nothing_waits(receiver):
    receiver.setblocking(False)
    try:
        receiver.recv(512)
    except BlockingIOError:
        return True
    finally:
        receiver.settimeout(2)
    return False


def test_datagrams_of_a_pass_leave_when_it_is_over_in_order(receiver):
    clock, owner = task.Clock(), Owner()
    box, sock = Outbox(clock), sender_to(receiver)
    for i in range(3):
        box.add(owner, sock, b"q%d" % i)
    assert nothing_waits(receiver)
    clock.advance(0)
    assert received(receiver, 3) == [b"q0", b"q1", b"q2"]
    assert not box.queue and not owner.failed and not clock.getDelayedCalls()
    sock.close()


def test_a_burst_leaves_at_once_without_waiting_for_the_pass(receiver):
    clock, owner = task.Clock(), Owner()
    box, sock = Outbox(clock), sender_to(receiver)
    for i in range(Outbox.BURST + 1):
        box.add(owner, sock, b"%d" % i)
    assert received(receiver, Outbox.BURST) == [b"%d" % i for i in range(Outbox.BURST)]
    assert nothing_waits(receiver)
    clock.advance(0)  # the one past the burst, at the end of the pass
    assert received(receiver, 1) == [b"%d" % Outbox.BURST]
    sock.close()


def test_a_failed_send_is_told_to_its_owner_later_a_closed_socket_is_not(receiver):
    clock, owner = task.Clock(), Owner()
    box, sock, gone = Outbox(clock), sender_to(receiver), sender_to(receiver)
    fine = sender_to(receiver)
    box.add(owner, sock, b"x" * 70000)  # larger than a datagram: EMSGSIZE
    box.add(owner, gone, b"late")
    box.add(owner, sock, b"after")  # not sent: its socket failed
    box.add(owner, fine, b"fine")
    gone.close()  # its queries failed when it closed: nothing to tell
    box.flush()  # as a burst does, from within a pool's send
    assert received(receiver, 1) == [b"fine"] and nothing_waits(receiver)
    assert owner.failed == []  # told in a later call, not from within the flush
    clock.advance(0)
    assert [(s, type(e)) for s, e in owner.failed] == [(sock, OSError)]
    for s in (sock, fine):
        s.close()


def huge_query():
    """A query larger than any datagram (the pool sends what it is given): its send fails with EMSGSIZE."""
    return dns.message.make_query("a.example.", "A").to_wire() + bytes(70000)


def test_the_shared_socket_goes_when_a_send_fails_and_its_queries_move_on(ups):
    up = ups()
    reactor = testing.reactor()
    pool = UDPPool(reactor, "127.0.0.1", up.port, expire=10.0)
    client = Client(reactor)
    ok = dns.message.make_query("b.example.", "A").to_wire()

    def both():
        big = defer.Deferred()
        pool.send(huge_query(), question_of(huge_query()), big)
        answered = client.query(ok, "127.0.0.1", up.port, "udp", 2.0, None, pool)  # same socket, same pass
        return defer.DeferredList([big, answered], consumeErrors=True)

    (ok1, err1), (ok2, err2) = testing.call(both)
    assert not ok1 and err1.check(ExchangeError) and "cannot send to 127.0.0.1" in str(err1.value)
    assert not ok2 and err2.check(ExchangeError)  # in flight on the broken socket: failed at once, no timeout
    assert testing.call(lambda: pool.sock) is None
    answer = testing.call(client.query, ok, "127.0.0.1", up.port, "udp", 2.0, None, pool)
    assert dns.message.from_wire(answer).answer and pool.opened == 2


def test_a_port_pool_socket_that_cannot_send_is_retired(ups):
    up = ups()
    reactor = testing.reactor()
    pool = PortPool(reactor, "127.0.0.1", up.port, size=1, uses=16)
    client = Client(reactor)
    with pytest.raises(ExchangeError, match="cannot send to 127.0.0.1"):
        testing.call(client.query, huge_query(), "127.0.0.1", up.port, "udp", 2.0, None, pool)
    assert testing.call(lambda: (pool.slots, pool.inflight, len(pool.retired))) == ([None], 0, 0)
    ok = dns.message.make_query("c.example.", "A").to_wire()
    assert dns.message.from_wire(testing.call(client.query, ok, "127.0.0.1", up.port, "udp", 2.0, None,
                                              pool)).answer
