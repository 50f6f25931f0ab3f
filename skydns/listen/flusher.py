"""Writes joined per reactor pass: connections with something to write are flushed once the pass that
made it is over, by one timer for all of them (not one per connection, nor one per write).

Answers relayed from one read of an upstream's socket then leave in one write per connection: for
DNS over TLS one TLS record and one ``send`` for all of a connection's answers, for DoH's HTTP/2 one
for all of its frames.
"""
from __future__ import annotations

from typing import Protocol


class Flushable(Protocol):
    def _flush(self) -> None: ...


class Flusher:
    """The connections due to write (each added once per pass: the connection keeps its own flag)."""

    def __init__(self, clock):
        self.clock = clock
        self.due: list[Flushable] = []
        self._call = None

    def add(self, conn: Flushable) -> None:
        self.due.append(conn)
        if self._call is None:
            self._call = self.clock.callLater(0, self._run)

    def _run(self) -> None:
        self._call = None
        due, self.due = self.due, []
        for conn in due:
            conn._flush()
