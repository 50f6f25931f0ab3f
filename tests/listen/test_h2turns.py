"""HTTP/2 streams in turn (skydns.listen.h2turns): the priority tree's calls, in O(1), and installed in Twisted."""
import priority
import pytest

from skydns.listen import h2turns


def test_streams_with_data_take_turns():
    t = h2turns.Turns()
    for sid in (1, 3, 5):
        t.insert_stream(sid)
    assert [next(t) for _ in range(6)] == [1, 3, 5, 1, 3, 5]
    t.block(3)
    assert [next(t) for _ in range(4)] == [1, 5, 1, 5]
    t.unblock(3)
    t.remove_stream(1)
    assert [next(t) for _ in range(4)] == [5, 3, 5, 3]
    t.block(3)
    t.block(5)
    with pytest.raises(priority.DeadlockError):
        next(t)


def test_the_priority_trees_errors():
    t = h2turns.Turns()
    t.insert_stream(1)
    with pytest.raises(priority.DuplicateStreamError):
        t.insert_stream(1)
    for call in (t.remove_stream, t.block, t.unblock, t.reprioritize):
        with pytest.raises(priority.MissingStreamError):
            call(7)
    t.reprioritize(1, depends_on=0, weight=200)  # accepted, and changes nothing
    assert next(t) == 1


def test_twisted_builds_its_http2_connections_with_it():
    from twisted.web import http

    assert h2turns.install() is True
    conn = http.H2Connection()
    assert isinstance(conn.priority, h2turns.Turns)
    assert h2turns.install() is True  # twice: still one subclass
    assert not getattr(http.H2Connection.__mro__[1], "_skydns_turns", False)  # not wrapped a second time
