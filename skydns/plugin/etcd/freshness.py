"""Is a copy still current? A member can fall behind (partitioned, no leader) without any error.

Every quarter of ``stale_after`` the copy's watch stream is asked how far it is (a
progress request: its answer proves the path to the member alive) and the member
whether it has a leader. When nothing has confirmed the copy for ``stale_after``
seconds (a watch event, a read, a progress answer while the member has a leader),
the copy counts as stale: logged, reconnected to another member, and not ready.
"""
from __future__ import annotations

from typing import Any

from twisted.internet import task
from twisted.logger import Logger

log = Logger(namespace="skydns.plugin.etcd")

#: The etcd directive's ``stale_after``: seconds without confirmation before a copy counts as stale.
STALE_AFTER = 10.0


class Freshness:
    """The staleness watch of one copy (a :class:`~skydns.plugin.etcd.mirror.PrefixCopy`).

    :ivar last_fresh: when something last confirmed the copy current (``copy.clock`` time; 0 never).
    :ivar stalls: times the member went silent and another was tried.
    :ivar leaderless: the member said it has no leader: its progress answers confirm nothing.
    """

    def __init__(self, copy, stale_after: float = STALE_AFTER):
        self.copy = copy
        self.stale_after = stale_after
        self.last_fresh = 0.0
        self.stalls = 0
        self.leaderless = False
        self._checker: Any = None
        self._probing = False

    def start(self) -> None:
        if self.stale_after and self._checker is None:
            self._checker = task.LoopingCall(self.check)
            self._checker.clock = self.copy.timers
            self._checker.start(max(self.stale_after / 4, 0.25), now=False)

    def stop(self) -> None:
        if self._checker is not None and self._checker.running:
            self._checker.stop()
        self._checker = None

    # -- what confirms the copy ---------------------------------------------------------------
    def confirmed(self) -> None:
        """A read or watch events: the copy is current now."""
        self.last_fresh = self.copy.clock()

    def progress(self) -> None:
        """The watch stream answered a progress request: current, if its member has a leader."""
        if not self.leaderless:
            self.last_fresh = self.copy.clock()

    def probed(self, leader: int, attempt: int) -> None:
        """The member's view of the leader (0: none, its data may fall behind), asked during the copy's
        connection ``attempt`` (an answer from a member left behind since is ignored)."""
        if attempt == self.copy.attempt:
            self.leaderless = not leader

    # -- reading it --------------------------------------------------------------------------
    def fresh(self) -> bool:
        return not self.stale_after or self.copy.clock() - self.last_fresh <= self.stale_after

    def age(self) -> float:
        """Seconds since something last confirmed the copy current (-1 before the first read)."""
        return self.copy.clock() - self.last_fresh if self.last_fresh else -1.0

    # -- the periodic check -----------------------------------------------------------------
    def check(self) -> None:
        """Ask for progress and the leader; reconnect elsewhere when nothing confirmed the copy for long."""
        copy = self.copy
        if not copy.connected:
            return  # not connected yet, or reconnecting already
        silent = copy.clock() - self.last_fresh
        if silent > self.stale_after:
            why = "its member has no leader" if self.leaderless else f"nothing from its member for {silent:.1f}s"
            self.stalls += 1
            log.warn("etcd copy of {prefix} may be stale: {why}; reconnecting to another member",
                     prefix=copy.prefix, why=why)
            copy.reconnect_elsewhere(why)
            return
        copy.request_progress()
        if self._probing:
            return
        self._probing = True
        d = copy.in_thread(self._probe, copy.client)
        d.addCallbacks(self.probed, lambda f: None, callbackArgs=(copy.attempt,))
        d.addBoth(self._probe_done)

    def _probe(self, client) -> int:
        """In a thread: the member's view of the leader (0: none, its data may fall behind)."""
        from pyetcd import etcdrpc

        resp = client.maintenancestub.Status(etcdrpc.StatusRequest(), max(self.stale_after / 2, 0.5),
                                             credentials=client.call_credentials, metadata=client.metadata)
        return resp.leader

    def _probe_done(self, _result) -> None:
        self._probing = False
