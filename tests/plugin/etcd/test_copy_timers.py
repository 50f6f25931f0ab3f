"""The copy's start wait and reconnection back-off, on a fake clock (etcd unreachable: nothing to wait for)."""
from twisted.internet import task

from helpers import closed_port, eventually
from skydns import testing
from skydns.clients.etcd.connection import Connection, parse_endpoint
from skydns.plugin.etcd.copy import RETRY_MAX, RETRY_MIN, RecordsCopy


def start(copy, fired):
    """Start the copy in the reactor thread, without waiting for start()'s Deferred (the clock fires it)."""
    def go():
        copy.start().addCallback(fired.append)
    testing.call(go)


def unreachable_copy(clock):
    connection = Connection((parse_endpoint(f"http://127.0.0.1:{closed_port()}"),), timeout=1.0)
    return RecordsCopy(connection, "/skydns", testing.reactor(), timers=clock)


def test_start_gives_up_waiting_after_five_seconds():
    """start() fires after the first read, or after 5 s whatever happens: the server starts serving."""
    clock = task.Clock()
    copy = unreachable_copy(clock)
    fired = []
    try:
        start(copy, fired)
        assert eventually(lambda: copy.reconnects >= 1)  # the first read failed, in a thread
        testing.call(clock.advance, 4.9)
        assert fired == []
        testing.call(clock.advance, 0.1)
        assert fired == [copy] and not copy.synced
    finally:
        testing.call(copy.stop)


def test_reconnections_back_off_to_the_cap():
    """Each failed reconnection doubles the wait, from 0.25 s up to 2 s."""
    clock = task.Clock()
    copy = unreachable_copy(clock)
    waits = []
    try:
        start(copy, [])
        for n in range(1, 8):
            assert eventually(lambda n=n: copy.reconnects >= n)
            retry = copy._pending_retry
            waits.append(round(retry.getTime() - clock.seconds(), 2))
            testing.call(clock.advance, waits[-1])
    finally:
        testing.call(copy.stop)
    assert waits == [RETRY_MIN, 0.5, 1.0, RETRY_MAX, RETRY_MAX, RETRY_MAX, RETRY_MAX] and RETRY_MAX == 2.0
