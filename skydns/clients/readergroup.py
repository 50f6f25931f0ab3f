"""Many sockets read through one reactor reader: an epoll set of their own, itself registered with the reactor.

Forward's port pool keeps dozens of sockets open to one upstream (random source ports, a few
queries each). Read by the reactor one by one, every ready socket costs a dispatch of Twisted's
(a log context pushed and popped, the read-or-write dance: 2-3 us) for, under load, one or two
answers. Behind a group, a reactor pass costs one dispatch for all of them, and the group reads
each ready socket directly. Linux's epoll sets nest: the group's own is readable while any socket
in it is (level-triggered, so what a read leaves makes the next pass read again).
"""
from __future__ import annotations

import select
from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()


class ReaderGroup:
    """An ``addReader``/``removeReader`` for sockets (each an IReadDescriptor) that the reactor sees as one."""

    def __init__(self, reactor, name: str = "dnsclient"):
        self.reactor = reactor
        self.name = name
        self._epoll: Any = None
        self._readers: dict[int, Any] = {}  # descriptor -> reader

    def __len__(self) -> int:
        return len(self._readers)

    # -- what the sockets' owners call -----------------------------------------------------------------
    def addReader(self, reader) -> None:
        if self._epoll is None:
            self._epoll = select.epoll()
            self.reactor.addReader(self)
        fd = reader.fileno()
        self._epoll.register(fd, select.EPOLLIN)
        self._readers[fd] = reader

    def removeReader(self, reader) -> None:
        """Stop reading ``reader`` (before its socket is closed: its descriptor names it here)."""
        fd = reader.fileno()
        if self._readers.get(fd) is reader:
            del self._readers[fd]
            self._epoll.unregister(fd)

    def close(self) -> None:
        """Out of the reactor; the next :meth:`addReader` starts again."""
        if self._epoll is not None:
            self.reactor.removeReader(self)
            self._epoll.close()
            self._epoll = None
        self._readers.clear()

    # -- what the reactor calls (IReadDescriptor) ------------------------------------------------------
    def fileno(self) -> int:
        return self._epoll.fileno() if self._epoll is not None else -1

    def logPrefix(self) -> str:
        return self.name

    def doRead(self) -> None:
        epoll = self._epoll
        if epoll is None:
            return
        readers = self._readers
        for fd, _events in epoll.poll(0):
            reader = readers.get(fd)
            if reader is None:
                continue
            try:
                reader.doRead()
            except Exception:  # as the reactor does with a reader that raises: that one is dropped
                log.failure("reading a socket of {group}", group=self.name)
                self.removeReader(reader)
                reader.connectionLost(Failure())

    def connectionLost(self, reason=None) -> None:
        """The reactor dropped the group: every socket in it is told, as the reactor would tell each."""
        readers = list(self._readers.values())
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
        self._readers.clear()
        for reader in readers:
            reader.connectionLost(reason)
