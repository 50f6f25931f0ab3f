"""The etcd plugin's record source as other plugins and /ready see it, on fake copies and a fake clock."""
from twisted.internet import task

from skydns.clients.etcd.connection import Connection, parse_endpoint
from skydns.clients.etcd.watch import Progress
from skydns.plugin.etcd.copy import RecordsCopy
from skydns.plugin.etcd.reader import Reader
from skydns.plugin.etcd.source import EtcdSource


def copy_on(clock) -> RecordsCopy:
    clock.advance(1000)
    connection = Connection((parse_endpoint("http://127.0.0.1:1"),))
    return RecordsCopy(connection, "/skydns", reactor=None, clock=clock.seconds, timers=clock, stale_after=10)


def test_ready_only_while_read_connected_and_confirmed_current():
    """/ready's view: not before the first read, not during an outage, not once nothing has confirmed
    the copy for stale_after; ready again when something does."""
    clock = task.Clock()
    copy = copy_on(clock)
    source = EtcdSource(copy, ["skydns.local."], Reader(copy))
    assert "not read yet" in source.ready()
    copy.synced = True
    copy.freshness.confirmed()
    assert source.ready() is None
    clock.advance(10.5)
    assert "not confirmed current for 10s" in source.ready()
    copy.freshness.progress()  # the watch's stream answered a progress request
    assert source.ready() is None
    copy._broken("cut off")  # an outage
    assert source.ready() is not None and not copy.fresh()
    copy.stop()


def test_a_member_without_leader_does_not_confirm_the_copy():
    """Progress answers from a member that has lost its leader confirm nothing (its data may fall
    behind); once it has a leader again, they do. Answers of a member left behind are ignored."""
    clock = task.Clock()
    copy = copy_on(clock)
    copy.synced, copy._running = True, True
    freshness = copy.freshness
    freshness.confirmed()
    read_at = freshness.last_fresh
    clock.advance(5)
    freshness.probed(0, copy.attempt)
    copy._watched(Progress(5), copy.attempt)
    assert freshness.last_fresh == read_at and freshness.leaderless
    freshness.probed(3, copy.attempt - 1)  # from a member left behind: ignored
    copy._watched(Progress(5), copy.attempt)
    assert freshness.last_fresh == read_at
    freshness.probed(3, copy.attempt)
    copy._watched(Progress(5), copy.attempt - 1)  # from a watch left behind: ignored
    assert freshness.last_fresh == read_at
    copy._watched(Progress(5), copy.attempt)
    assert freshness.last_fresh == clock.seconds()
