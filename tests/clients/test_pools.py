"""PortPool: UDP queries from short-lived sockets on random ports, against real upstreams on loopback."""
import time

import dns.message
import pytest
from twisted.internet import defer, task

from helpers import eventually
from helpers.upstreams import closed_port
from skydns import testing
from skydns.clients.dnsclient import Client, ExchangeError
from skydns.clients.portpool import PortPool


def ask(client, pool, name="www.example.org."):
    q = dns.message.make_query(name, "A").to_wire()
    return testing.call(client.query, q, pool.host, pool.port, "udp", 2.0, None, pool)


def test_each_socket_carries_its_queries_then_a_new_random_port_takes_over(ups):
    up = ups()
    reactor = testing.reactor()
    pool = PortPool(reactor, "127.0.0.1", up.port, size=4, uses=3)
    client = Client(reactor)
    for i in range(30):
        assert dns.message.from_wire(ask(client, pool, f"n{i}.example.")).answer
    ports = [p for _, p, _ in up.seen]
    assert max(ports.count(p) for p in ports) <= 3 and len(set(ports)) >= 10
    assert pool.opened == len(set(ports))
    assert len({q.id for _, _, q in up.seen}) >= 29  # random IDs
    # retired sockets close once their answers are in; the rest once the pool is idle
    assert eventually(lambda: not testing.call(lambda: pool.is_open), timeout=pool.IDLE + 3)
    assert not pool.retired and pool.inflight == 0


def test_a_refusing_upstream_fails_the_query_and_its_socket_goes():
    reactor = testing.reactor()
    pool = PortPool(reactor, "127.0.0.1", closed_port(), size=2, uses=8)
    client = Client(reactor)
    with pytest.raises(ExchangeError):
        ask(client, pool)
    assert eventually(lambda: testing.call(lambda: not pool.retired and pool.inflight == 0))


def test_late_answers_on_a_retired_socket_are_still_taken(ups):
    up = ups("late", delay=0.3)
    reactor = testing.reactor()
    pool = PortPool(reactor, "127.0.0.1", up.port, size=1, uses=1)  # every query retires its socket at once
    client = Client(reactor)
    start = time.monotonic()
    answers = testing.call(lambda: defer.gatherResults(
        [client.query(dns.message.make_query(f"q{i}.example.", "A").to_wire(), "127.0.0.1", up.port, "udp",
                      2.0, None, pool) for i in range(5)]))
    assert len(answers) == 5 and time.monotonic() - start < 1.5
    assert len({p for _, p, _ in up.seen}) == 5  # five sockets, each answered after it left the pool



def test_a_shared_socket_holds_a_burst_of_answers_while_the_reactor_is_busy():
    """forward's ``expire``: thousands of queries share one socket, and their answers can all arrive while the
    reactor is busy elsewhere. The default receive buffer (about 200 answers) dropped the rest: timeouts."""
    import socket
    import threading

    from skydns.clients.dnsclient import RECEIVE_BUFFER as SHARED_RECEIVE_BUFFER
    from skydns.clients.pools import UDPPool

    with open("/proc/sys/net/core/rmem_max") as f:
        if int(f.read()) < SHARED_RECEIVE_BUFFER:
            pytest.skip("net.core.rmem_max is below the buffer the shared socket asks for")
    upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    upstream.bind(("127.0.0.1", 0))
    upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SHARED_RECEIVE_BUFFER)
    port = upstream.getsockname()[1]
    reactor = testing.reactor()
    pool = UDPPool(reactor, "127.0.0.1", port, expire=10.0)
    client = Client(reactor)
    count = 1500
    queries = [dns.message.make_query(f"n{i}.example.", "A") for i in range(count)]
    answers = testing.call(lambda: [client.query(q.to_wire(), "127.0.0.1", port, "udp", 5.0, None, pool)
                                    for q in queries])
    busy, sent = threading.Event(), threading.Event()

    def block_the_reactor():
        busy.set()
        sent.wait(20)

    reactor.callFromThread(block_the_reactor)
    assert busy.wait(5)
    try:
        for _ in range(count):  # every answer sent while the reactor reads nothing
            data, addr = upstream.recvfrom(512)
            reply = dns.message.make_response(dns.message.from_wire(data))
            upstream.sendto(reply.to_wire(), addr)
    finally:
        sent.set()
        upstream.close()
    got = testing.call(lambda: defer.gatherResults(answers))
    assert len(got) == count and pool.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) > 2 * 212992


def test_ids_a_raw_relay_holds_are_never_given_to_the_pools_own_queries():
    """forward's express lane sends on the shared socket with IDs of its own (``relayed``): the pool's queries
    draw around them, and the socket is not idle while the lane has queries out."""
    from skydns.clients.pools import UDPPool

    clock = task.Clock()
    clock.advance(5)
    pool = UDPPool(clock, "127.0.0.1", 53, expire=10.0)
    pool.relayed.update((i, None) for i in range(65536) if i != 4242)
    assert pool._register(b"question", defer.Deferred()) == 4242
    pool.finished(4242)
    assert pool.idle_since == 0.0  # the relay's queries are still out
    pool.relayed.clear()
    pool.settle()
    assert pool.idle_since == 5
