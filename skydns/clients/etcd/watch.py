"""A watch on one etcd key prefix that can be asked whether it is still current.

pyetcd's Watcher cannot send etcd's ``WatchProgressRequest`` nor pass on its answers, and without
them a watch whose member hangs or whose network path silently drops packets looks exactly like a
watch on keys nobody changes. This is one gRPC Watch stream for one prefix, read in a thread of its
own: it reports events, the member's answers to progress requests (sent on the same stream, so an
answer proves the whole path alive), and the error that ended it. Blocking: start it from a thread,
never from the reactor; its callbacks run in its own thread.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: etcd's watch_id on an answer to a progress request: it belongs to no one watch of the stream.
PROGRESS_ID = -1


@dataclass
class Events:
    """Changes under the prefix (pyetcd PutEvent/DeleteEvent objects) and the revision they bring."""

    events: list
    header: Any


@dataclass
class Progress:
    """The member's answer to a progress request: the stream is alive up to ``revision``."""

    revision: int


def prefix_end(prefix: bytes) -> bytes:
    """The end of etcd's range of keys starting with ``prefix`` (its last byte that can grow, grown)."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\0"


class PrefixWatch:
    """One Watch stream over ``prefix`` from ``start_revision``.

    ``deliver`` gets :class:`Events`, :class:`Progress`, or once, the exception that ended the
    stream (pyetcd's RevisionCompactedError when the history was compacted); nothing after
    :meth:`cancel`.
    """

    def __init__(self, client, prefix: bytes, start_revision: int, deliver: Callable[[Any], None],
                 timeout: float = 5.0):
        self.client = client
        self.prefix = prefix
        self.start_revision = start_revision
        self.deliver = deliver
        self.timeout = timeout
        self._requests: queue.Queue = queue.Queue(maxsize=16)
        self._created = threading.Event()
        self._failure: BaseException | None = None
        self._cancelled = False
        self._call: Any = None

    def start(self) -> PrefixWatch:
        """Open the stream and wait until etcd has created the watch (at most ``timeout``)."""
        from pyetcd import etcdrpc, exceptions

        create = etcdrpc.WatchCreateRequest(key=self.prefix, range_end=prefix_end(self.prefix),
                                            start_revision=self.start_revision)
        self._requests.put(etcdrpc.WatchRequest(create_request=create))
        stub = etcdrpc.WatchStub(self.client.channel)
        self._call = stub.Watch(self._outgoing(), credentials=self.client.call_credentials,
                                metadata=self.client.metadata)
        threading.Thread(target=self._read, name=f"etcd-watch {self.prefix!r}", daemon=True).start()
        if not self._created.wait(self.timeout):
            self.cancel()
            raise exceptions.WatchTimedOut()
        if self._failure is not None:
            self.cancel()
            raise self._failure
        return self

    def request_progress(self) -> None:
        """Ask the member, on this stream, to say how far it is (answered with a Progress)."""
        from pyetcd import etcdrpc

        try:
            self._requests.put_nowait(etcdrpc.WatchRequest(progress_request=etcdrpc.WatchProgressRequest()))
        except queue.Full:
            pass  # earlier requests are still unsent: the stream is stuck, which the silence will show

    def cancel(self) -> None:
        self._cancelled = True
        try:
            self._requests.put_nowait(None)
        except queue.Full:
            pass
        if self._call is not None:
            self._call.cancel()

    def _outgoing(self):
        while True:
            request = self._requests.get()
            if request is None:
                return
            yield request

    def _read(self) -> None:
        from pyetcd import events, exceptions

        error: BaseException | None = None
        try:
            for rs in self._call:
                if rs.compact_revision:
                    error = exceptions.RevisionCompactedError(rs.compact_revision)
                    break
                if rs.created:
                    self._created.set()
                    continue
                if rs.canceled:
                    error = exceptions.Etcd3Exception(f"watch canceled by etcd: {rs.cancel_reason or 'no reason'}")
                    break
                if rs.events:
                    self._give(Events([events.new_event(e) for e in rs.events], rs.header))
                elif rs.watch_id == PROGRESS_ID:
                    self._give(Progress(rs.header.revision))
        except Exception as e:  # grpc.RpcError, mostly: the stream broke
            error = e
        try:
            self._requests.put_nowait(None)  # ends the thread gRPC reads our requests in
        except queue.Full:
            pass
        if error is None:
            error = exceptions.ConnectionFailedError("etcd ended the watch stream")
        if not self._created.is_set():
            self._failure = error
            self._created.set()
            return
        self._give(error)

    def _give(self, item) -> None:
        if not self._cancelled:
            self.deliver(item)
