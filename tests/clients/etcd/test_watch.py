"""PrefixWatch against a real etcd: events, answers to progress requests, compaction, a silent path."""
import queue

import pyetcd.exceptions
import pytest

from helpers import Proxy
from skydns.clients.etcd.connection import Connection, parse_endpoint
from skydns.clients.etcd.watch import Events, PrefixWatch, Progress, prefix_end


def take(q: queue.Queue, kind, timeout=5.0):
    """The next item of ``kind`` delivered (others before it are skipped)."""
    while True:
        item = q.get(timeout=timeout)
        if isinstance(item, kind):
            return item


def test_prefix_end():
    assert prefix_end(b"/skydns/") == b"/skydns0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"\xff") == b"\0"


def test_events_progress_and_cancel(etcd, data):
    client = etcd.client()
    prefix = (data.path + "/").encode()
    start = client.put(data.path + "/before", "x").header.revision + 1
    got: queue.Queue = queue.Queue()
    watch = PrefixWatch(client, prefix, start, got.put).start()
    try:
        client.put(data.path + "/a", "1")
        client.put(data.path + "-other/b", "1")  # outside the prefix: not seen
        client.delete(data.path + "/a")
        first, second = take(got, Events), take(got, Events)
        kinds = [type(e).__name__ for e in first.events + second.events]
        assert kinds == ["PutEvent", "DeleteEvent"]
        assert first.events[0].key == prefix + b"a" and first.events[0].value == b"1"
        watch.request_progress()
        assert take(got, Progress).revision >= second.header.revision
    finally:
        watch.cancel()
    client.put(data.path + "/after", "1")
    watch.request_progress()  # after cancel: nothing more is delivered
    with pytest.raises(queue.Empty):
        take(got, (Events, Progress), timeout=0.5)
    client.close()


def test_a_compacted_start_revision_ends_the_watch(etcd, data):
    """Watching from a compacted revision: RevisionCompactedError, raised by start or delivered
    right after it (etcd 3.4 creates the watch first), never events."""
    client = etcd.client()
    first = client.put(data.path + "/k", "1").header.revision
    last = client.put(data.path + "/k", "2").header.revision
    client.compact(last)
    got: queue.Queue = queue.Queue()
    try:
        watch = PrefixWatch(client, (data.path + "/").encode(), first, got.put).start()
    except pyetcd.exceptions.RevisionCompactedError:
        pass
    else:
        assert isinstance(got.get(timeout=5), pyetcd.exceptions.RevisionCompactedError)
        watch.cancel()
    client.close()


def test_progress_goes_unanswered_over_a_silent_path(etcd, data):
    """What the copy's staleness check relies on: through a path that drops everything (the TCP
    connection still open), a progress request gets no answer; once the path carries again, it does."""
    proxy = Proxy(etcd.port)
    endpoint = parse_endpoint(proxy.url)
    client = Connection((endpoint,)).client(endpoint)
    got: queue.Queue = queue.Queue()
    start = client.put(data.path + "/k", "1").header.revision
    watch = PrefixWatch(client, (data.path + "/").encode(), start, got.put).start()
    try:
        watch.request_progress()
        take(got, Progress)
        proxy.freeze()
        watch.request_progress()
        with pytest.raises(queue.Empty):
            take(got, Progress, timeout=1.0)
        proxy.thaw()
        watch.request_progress()
        take(got, Progress)
    finally:
        watch.cancel()
        proxy.thaw()
        proxy.close()
        client.close()
