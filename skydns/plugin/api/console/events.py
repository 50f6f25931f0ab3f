"""Live pages: the browser keeps one Server-Sent Events stream open and hears what changed.

The console subscribes to its record source (the etcd copy, health statuses
included) and to a clock: a change is announced to every open page within
``DELAY`` seconds, many changes in that time as one event (the names that
changed, or ``all`` when they are many or unknown), so a burst of writes costs
one message per page, not one per write. A page fetches again what it shows.
Streams are bounded (``MAX_STREAMS``; the oldest is closed for a new one) and
a comment every ``PING`` seconds keeps proxies from closing them.
"""
from __future__ import annotations

import json
from collections import OrderedDict

DELAY = 0.2
PING = 15.0
MAX_STREAMS = 32
MAX_NAMES = 50


class Events:
    def __init__(self, clock):
        self.clock = clock
        self.streams: OrderedDict[int, object] = OrderedDict()
        self._names: set[str] = set()
        self._all = False
        self._pending = None
        self._ping = None

    # -- the source's side -------------------------------------------------------------------------
    def changed(self, name: str | None) -> None:
        """A change at ``name`` (None: anything may have changed): announce it soon."""
        if name is None or len(self._names) >= MAX_NAMES:
            self._all = True
        else:
            self._names.add(name)
        if self._pending is None and self.streams:
            self._pending = self.clock.callLater(DELAY, self._flush)

    def _flush(self) -> None:
        self._pending = None
        names, self._names = self._names, set()
        everything, self._all = self._all, False
        data = {"all": True} if everything else {"names": sorted(names)}
        self._send(b"event: change\ndata: " + json.dumps(data).encode() + b"\n\n")

    def _send(self, chunk: bytes) -> None:
        for request in list(self.streams.values()):
            request.write(chunk)  # type: ignore[attr-defined]

    def _keepalive(self) -> None:
        self._ping = None
        if self.streams:
            self._send(b": ping\n\n")
            self._ping = self.clock.callLater(PING, self._keepalive)

    # -- the browser's side ------------------------------------------------------------------------
    def open(self, request) -> None:
        """Keep ``request`` as a stream (the resource returns NOT_DONE_YET)."""
        while len(self.streams) >= MAX_STREAMS:
            _, old = self.streams.popitem(last=False)
            old.finish()  # type: ignore[attr-defined]
        request.setHeader(b"content-type", b"text/event-stream")
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-accel-buffering", b"no")
        key = id(request)
        self.streams[key] = request
        request.notifyFinish().addBoth(lambda _: self.streams.pop(key, None))
        request.write(b"retry: 1000\nevent: hello\ndata: {}\n\n")
        if self._ping is None:
            self._ping = self.clock.callLater(PING, self._keepalive)

    def close(self) -> None:
        """The configuration is retired: end every stream (the pages reconnect to the next one)."""
        for call in (self._pending, self._ping):
            if call is not None and call.active():
                call.cancel()
        self._pending = self._ping = None
        for request in list(self.streams.values()):
            request.finish()  # type: ignore[attr-defined]
        self.streams.clear()
