"""The reactor's lean dispatch (skydns.listen.dispatch): ready sockets served without the legacy log context,
errors handled as Twisted handles them, other reactors left alone. A private epoll reactor (never run) over
real socket pairs, one pass at a time."""
import socket

import pytest
from twisted.internet import task
from twisted.python import log as legacy

from skydns import testing
from skydns.listen.dispatch import _do_poll, lean_dispatch

epollreactor = pytest.importorskip("twisted.internet.epollreactor")


class Reader:
    """A socket the reactor reads; ``fail`` makes its doRead raise."""

    def __init__(self, sock, fail=False):
        self.sock, self.fail = sock, fail
        self.read: list[bytes] = []
        self.lost = None

    def fileno(self):
        return self.sock.fileno()

    def logPrefix(self):
        return "reader"

    def doRead(self):
        if self.fail:
            raise RuntimeError("a bug in doRead")
        self.read.append(self.sock.recv(100))

    def connectionLost(self, reason):
        self.lost = reason


@pytest.fixture
def reactor():
    r = epollreactor.EPollReactor()
    yield r
    r._poller.close()


@pytest.fixture
def pairs():
    made = [socket.socketpair() for _ in range(2)]
    yield made
    for a, b in made:
        a.close()
        b.close()


def test_ready_sockets_are_served_without_the_legacy_log_context(reactor, pairs, monkeypatch):
    assert lean_dispatch(reactor)
    monkeypatch.setattr(legacy, "callWithLogger", lambda *a, **k: pytest.fail("the legacy context was used"))
    readers = [Reader(a) for a, _ in pairs]
    for r in readers:
        reactor.addReader(r)
    for i, (_, b) in enumerate(pairs):
        b.send(b"q%d" % i)
    reactor.doIteration(0)
    assert [r.read for r in readers] == [[b"q0"], [b"q1"]]
    reactor.doIteration(0)  # nothing more is ready: nothing more is read
    assert [len(r.read) for r in readers] == [1, 1]


def test_a_failing_reader_is_disconnected_and_the_pass_goes_on(reactor, pairs):
    lean_dispatch(reactor)
    broken, fine = Reader(pairs[0][0], fail=True), Reader(pairs[1][0])
    reactor.addReader(broken)
    reactor.addReader(fine)
    errors = []
    legacy.addObserver(errors.append)
    try:
        for _, b in pairs:
            b.send(b"x")
        reactor.doIteration(0)
    finally:
        legacy.removeObserver(errors.append)
    assert fine.read == [b"x"]
    assert broken.lost is not None and broken not in reactor.getReaders()  # as Twisted's own pass does
    assert any(e.get("isError") and "a bug in doRead" in str(e.get("failure", "")) for e in errors)


def test_other_reactors_are_left_alone():
    clock = task.Clock()
    assert not lean_dispatch(clock) and not hasattr(clock, "doIteration")


def test_the_tests_reactor_runs_as_twistd_skydns_does():
    r = testing.reactor()
    assert getattr(r.doIteration, "__func__", None) is _do_poll or not isinstance(r, epollreactor.EPollReactor)
