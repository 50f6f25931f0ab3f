"""The cache's answers past their time: prefetch before an item expires, serve_stale after (RFC 8767)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred

from skydns.plugin.cache.item import Item
from skydns.query.chain import next_or_failure
from skydns.query.rcode import NOERROR, NXDOMAIN, SERVFAIL
from skydns.query.reply import Reply


class Refreshing:
    """What :class:`skydns.plugin.cache.cache.Cache` does with items near or past their expiry."""

    # the cache's, used here
    name: str
    next: Any
    cfg: Any
    clock: Any
    refreshes: int
    refresh_failures: int
    stale: int
    _store: Callable

    def _maybe_prefetch(self, item: Item, request, now: float, age: int) -> None:
        if now - item.window > self.cfg.prefetch_window:
            item.window, item.hits = now, 0
        item.hits += 1
        left = item.ttl - age
        if item.hits >= self.cfg.prefetch and left * 100 <= item.ttl * self.cfg.prefetch_pct:
            self._refresh(item, request)

    def _stale(self, item: Item, request) -> bytes:
        """The expired reply, with the stale TTL (CoreDNS's RESPONSE_TTL, default 0)."""
        self.stale += 1
        return item.render_ttl(request, self.cfg.stale_ttl)

    def _refresh(self, item: Item, request) -> None:
        """Ask the rest of the chain again in the background and keep the new reply."""
        if item.refreshing or self.clock.seconds() < item.failed_until:
            return
        item.refreshing = True
        self.refreshes += 1
        copy = request.derive()  # the same question, in the background: no observers, its own dependencies
        copy.observers, copy.dependencies, copy.sender = None, [], None
        try:
            result = next_or_failure(self.name, self.next, copy)
        except Exception:
            item.refreshing = False
            return

        def done(r):
            item.refreshing = False
            reply = Reply(r) if r is not None else None
            if reply is None or reply.rcode == SERVFAIL:
                failed()
                return
            self._store(reply, copy, item.key)

        def failed(_=None):
            item.refreshing = False
            self.refresh_failures += 1
            item.failed_until = self.clock.seconds() + self.cfg.failure_recheck

        if isinstance(result, Deferred):
            result.addCallbacks(done, failed)
        else:
            done(result)

    def _verify(self, item: Item, request, age: int):
        """serve_stale verify: ask first; serve the stale reply only if that fails."""
        request.dependencies = []
        try:
            result = next_or_failure(self.name, self.next, request)
        except Exception:
            item.failed_until = self.clock.seconds() + self.cfg.failure_recheck
            return self._stale(item, request)

        def stale(_=None):
            item.failed_until = self.clock.seconds() + self.cfg.failure_recheck
            return self._stale(item, request)

        def check(r):
            reply = Reply(r) if r is not None else None
            if reply is None or reply.rcode == SERVFAIL:
                return stale()  # the error is not kept: the stale reply stays for the next try
            if self.cfg.prefer_positive and not item.negative and _is_denial(reply.wire):
                return self._stale(item, request)  # the last good answer wins (serve_stale_policy)
            return self._store(reply, request, item.key)

        if not isinstance(result, Deferred):
            return check(result)
        if not self.cfg.verify_timeout:
            return result.addCallbacks(check, stale)
        # VERIFY_TIMEOUT: the stale reply after that long; the verification goes on and refreshes the entry
        out: Deferred = Deferred()

        def give_stale():
            if not out.called:
                out.callback(self._stale(item, request))

        timer = self.clock.callLater(self.cfg.verify_timeout, give_stale)

        def finished(value):
            if timer.active():
                timer.cancel()
            if not out.called:
                out.callback(value)
            return None

        result.addCallbacks(check, stale).addBoth(finished)
        return out



def _is_denial(data: bytes) -> bool:
    """NXDOMAIN, or NOERROR without answers (NODATA)."""
    rcode = data[3] & 0x0F
    return rcode == NXDOMAIN or (rcode == NOERROR and not (data[6] or data[7]))
