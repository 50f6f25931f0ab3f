"""HTTP/2 streams served in turn: what Twisted's HTTP/2 connection asks of its priority tree, in O(1).

Twisted's ``H2Connection`` keeps its streams in ``priority.PriorityTree``, which rebuilds a
heap, comparing streams in Python, every time a stream ends: with a hundred streams in flight
that is most of the cost of a DNS-over-HTTPS query (a reply is one small DATA frame, so RFC
7540's priorities between replies buy nothing). :class:`Turns` answers the same calls
(``insert_stream``, ``remove_stream``, ``block``, ``unblock``, ``reprioritize``, iteration
raising ``DeadlockError`` when nothing can send) with an ordered dict of the streams that have
data: each gets a frame in turn. :func:`install` makes every HTTP/2 connection of the process
use it (Twisted builds them in ``twisted.web.http`` when ALPN picks h2); it is a no-op when
Twisted has no HTTP/2, or builds its connections in another way than the one it replaces.
"""
from __future__ import annotations

from collections import OrderedDict

import priority


class Turns:
    def __init__(self):
        self._known: set[int] = set()
        self._active: OrderedDict[int, None] = OrderedDict()

    def _check(self, stream_id: int) -> None:
        if stream_id not in self._known:
            raise priority.MissingStreamError(f"Stream {stream_id} not in tree")

    def insert_stream(self, stream_id: int, depends_on=None, weight: int = 16, exclusive: bool = False) -> None:
        if stream_id in self._known:
            raise priority.DuplicateStreamError(f"Stream {stream_id} already in tree")
        self._known.add(stream_id)
        self._active[stream_id] = None

    def remove_stream(self, stream_id: int) -> None:
        self._check(stream_id)
        self._known.discard(stream_id)
        self._active.pop(stream_id, None)

    def block(self, stream_id: int) -> None:
        self._check(stream_id)
        self._active.pop(stream_id, None)

    def unblock(self, stream_id: int) -> None:
        self._check(stream_id)
        self._active[stream_id] = None

    def reprioritize(self, stream_id: int, depends_on=None, weight: int = 16, exclusive: bool = False) -> None:
        self._check(stream_id)

    def __iter__(self):
        return self

    def __next__(self) -> int:
        if not self._active:
            raise priority.DeadlockError("No unblocked streams to schedule.")
        stream_id, _ = self._active.popitem(last=False)
        self._active[stream_id] = None
        return stream_id


def install() -> bool:
    """Make Twisted's HTTP/2 connections schedule with :class:`Turns`; False when there is nothing to change."""
    from twisted.web import http

    base = getattr(http, "H2Connection", None)
    if base is None or getattr(base, "_skydns_turns", False):
        return base is not None

    class H2Connection(base):  # type: ignore[misc, valid-type]
        _skydns_turns = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if isinstance(getattr(self, "priority", None), priority.PriorityTree):
                self.priority = Turns()

    http.H2Connection = H2Connection  # type: ignore[misc]
    return True
