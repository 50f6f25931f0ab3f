"""Queries to upstreams sent together: the datagrams a reactor pass makes leave when it is over.

A query relayed the moment it is read goes out between the reads of the other clients, a few tens of
microseconds apart: each datagram then finds the upstream asleep and wakes it, and on loopback (or
any host where the kernel delivers at once) the sender pays for that wake-up, which in a virtual
machine is an interrupt sent through the hypervisor. With a thousand DoH clients of one query each,
that was the largest single cost of a query (8-9 us of 62, `perf`). Sent together at the end of the
pass, the first datagram wakes the upstream and the rest find it awake.

A burst is bounded (:attr:`Outbox.BURST`): an upstream with the default receive buffer holds about
two hundred queries, and a pass of a loaded server can read more than that.
"""
from __future__ import annotations

import socket
from typing import Any, Protocol


class Sender(Protocol):
    """What owns a socket the outbox sends on: told when a send on it fails (if that socket is still its
    own, the queries in flight on it fail and move on, and it is not kept)."""

    def send_failed(self, sock: socket.socket, error: OSError) -> None: ...


class Outbox:
    """The datagrams waiting for the end of this reactor pass, each with its socket and that socket's owner
    (a pool has one outbox for all of its sockets: one timer a pass)."""

    #: Datagrams sent at once, without waiting for the pass to end.
    BURST = 64

    def __init__(self, clock):
        self.clock = clock
        self.queue: list[tuple[Sender, socket.socket, bytes]] = []
        self._call: Any = None

    def add(self, owner: Sender, sock: socket.socket, data: bytes) -> None:
        queue = self.queue
        queue.append((owner, sock, data))
        if len(queue) >= self.BURST:
            self.flush()
        elif self._call is None:
            self._call = self.clock.callLater(0, self._pass_over)

    def _pass_over(self) -> None:
        self._call = None
        self.flush()

    def flush(self) -> None:
        """Send what waits. A datagram whose socket closed meanwhile is dropped: its query failed when the
        socket went. A socket that cannot send sends nothing more, and its owner is told in a later call:
        a burst is sent from within a pool's ``send``, whose caller has not yet counted the query it sends."""
        queue, self.queue = self.queue, []
        failed: set | None = None
        for owner, sock, data in queue:
            if failed is not None and sock in failed:
                continue
            try:
                sock.send(data)
            except OSError as e:
                if sock.fileno() >= 0:
                    if failed is None:
                        failed = set()
                    failed.add(sock)
                    self.clock.callLater(0, owner.send_failed, sock, e)
