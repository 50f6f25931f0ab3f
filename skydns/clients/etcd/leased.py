"""Keys that live only while their writer does: written under one etcd lease, kept alive, written again.

The scanner's status keys and the registration agent's services are written this way:
when the writer is gone (killed, or its machine cut off) the lease runs out and etcd
deletes its keys. Blocking client calls run in threads; writes go one at a time,
coalesced per key (only the latest wish for each is kept), and are retried until etcd
takes them, trying the next endpoint when one fails. A lease found expired (etcd was out
of reach longer than its TTL) is replaced and every key written again, so an outage of
any length ends with the keys back within a keep-alive period of etcd's return.
:meth:`LeasedKeys.stop` revokes the lease: the keys go at once.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, task, threads
from twisted.logger import Logger

RETRY_MIN = 0.5
RETRY_MAX = 5.0


class LeasedKeys:
    """``who`` names the writer in the log (``scanner host-1``, ``agent web``); ``registration``, when given,
    is a ``(key, value)`` written under each new lease before anything else (the scanner's membership)."""

    def __init__(self, reactor, connection, ttl: int, who: str, log: Logger,
                 registration: tuple[str, str] | None = None, lease_lost: Callable[[], None] | None = None):
        self.reactor = reactor
        self.connection = connection
        self.ttl = ttl
        self.who = who
        self.log = log
        self.registration = registration
        self.lease_lost = lease_lost  # told when a new lease replaced an expired one
        self.lease: int | None = None
        self.current: dict[str, str] = {}  # what should exist now: key -> value
        self.wanted: dict[str, str | None] = {}  # not written yet: key -> value, or None to delete it
        self.writes = 0
        self.write_errors = 0
        self._client: Any = None
        self._endpoint = 0
        self._busy = False
        self._retry = RETRY_MIN
        self._keeper: task.LoopingCall | None = None
        self._keeping = False
        self._running = False
        self._lock = threading.Lock()

    def _thread(self, fn, *args) -> defer.Deferred:
        return threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), fn, *args)

    # -- blocking helpers (threads) -------------------------------------------------------
    def _call(self, fn, keys=()):
        """Run ``fn(client)`` with a client, trying the next endpoint when one fails. One call at a time: the
        keep-alive, the writes and a members' read run in pool threads, and a client closed under another
        thread's call would crash gRPC's core. A permission refusal is not tried elsewhere: it raises
        :class:`~skydns.clients.etcd.connection.Refused` naming ``keys``, the user and its roles."""
        with self._lock:
            return self._call_locked(fn, keys)

    def _call_locked(self, fn, keys=()):
        from skydns.clients.etcd.connection import denied, explain

        endpoints = self.connection.endpoints
        last: Exception | None = None
        for _ in range(len(endpoints)):
            if self._client is None:
                self._client = self.connection.client(endpoints[self._endpoint % len(endpoints)])
            try:
                return fn(self._client)
            except Exception as e:  # unreachable, timed out, no leader: the next member
                refused = denied(self._client, e, keys or [self.who])
                if refused is not None:
                    raise refused from None
                last = e
                client, self._client = self._client, None
                self._endpoint += 1
                try:
                    client.close()
                except Exception:
                    pass
        raise ConnectionError(explain(last) if last is not None else "etcd unreachable")

    def _grant(self) -> int:
        def run(client):
            lease = client.lease(self.ttl)
            if self.registration is not None:
                client.put(self.registration[0], self.registration[1], lease=lease.id)
            return lease.id

        return self._call(run, (self.registration[0],) if self.registration is not None else ())

    # -- the lease ------------------------------------------------------------------------------
    @defer.inlineCallbacks
    def start(self):
        """Take a lease (retrying while etcd is away), keep it alive, write what is wanted."""
        self._running = True
        while self._running and self.lease is None:
            try:
                self.lease = yield self._thread(self._grant)
            except Exception as e:
                self.log.warn("{who}: cannot take an etcd lease ({error}); retrying", who=self.who, error=e)
                yield task.deferLater(self.reactor, self._retry, lambda: None)
                self._retry = min(self._retry * 2, RETRY_MAX)
        self._retry = RETRY_MIN
        if not self._running:
            return
        self.log.info("{who}: writing under an etcd lease of {ttl}s", who=self.who, ttl=self.ttl)
        self._keeper = task.LoopingCall(self._keep_alive)
        self._keeper.clock = self.reactor
        self._keeper.start(max(self.ttl / 3, 0.2), now=False)
        self._flush()

    @defer.inlineCallbacks
    def _keep_alive(self):
        if self._keeping or self.lease is None:
            return
        self._keeping = True
        lease = self.lease
        try:
            ttls = yield self._thread(self._call, lambda client: [r.TTL for r in client.refresh_lease(lease)])
            if not ttls or ttls[-1] <= 0:
                self.log.warn("{who}: its etcd lease expired (etcd was out of reach); writing its {n} keys again",
                              who=self.who, n=len(self.current))
                self.lease = yield self._thread(self._grant)
                self.wanted = {**self.current, **self.wanted}
                if self.lease_lost is not None:
                    self.lease_lost()
                self._flush()
        except Exception as e:
            self.log.warn("{who}: cannot keep its etcd lease alive ({error}); keeping the last state",
                          who=self.who, error=e)
        finally:
            self._keeping = False

    @defer.inlineCallbacks
    def stop(self):
        """Stop, and revoke the lease: every key written goes at once."""
        self._running = False
        if self._keeper is not None and self._keeper.running:
            self._keeper.stop()
        lease, self.lease = self.lease, None
        if lease is not None:
            try:
                yield self._thread(self._call, lambda client: client.revoke_lease(lease))
            except Exception as e:
                self.log.warn("{who}: could not revoke its etcd lease ({error}); its keys expire in {ttl}s",
                              who=self.who, error=e, ttl=self.ttl)
        yield self._thread(self._close_client)

    def _close_client(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            if client is not None:
                client.close()

    # -- keys -----------------------------------------------------------------------------------
    def put(self, key: str, value: str | None) -> None:
        """Write ``value`` at ``key`` under the lease (None: delete the key), as soon as etcd takes it."""
        if value is None:
            self.current.pop(key, None)
        else:
            self.current[key] = value
        self.wanted[key] = value
        self._flush()

    def run(self, fn) -> defer.Deferred:
        """``fn(client)`` in a thread, with the writer's client (the next endpoint when one fails)."""
        return self._thread(self._call, fn)

    def forget(self, key: str) -> None:
        """Stop keeping ``key`` (another writer took it over): not written again, not deleted."""
        self.current.pop(key, None)
        self.wanted.pop(key, None)

    def _flush(self) -> None:
        if self._busy or not self.wanted or self.lease is None or not self._running:
            return
        key = next(iter(self.wanted))
        value = self.wanted.pop(key)
        lease = self.lease

        def write(client):
            if value is None:
                client.delete(key)
            else:
                client.put(key, value, lease=lease)

        self._busy = True
        d = self._thread(self._call, write, (key,))
        d.addCallbacks(self._written, self._failed, errbackArgs=(key, value))

    def _written(self, _result) -> None:
        self._busy = False
        self.writes += 1
        self._retry = RETRY_MIN
        self._flush()

    def _failed(self, failure, key: str, value: str | None) -> None:
        self._busy = False
        self.write_errors += 1
        self.wanted.setdefault(key, value)  # unless a newer wish came meanwhile
        if self.write_errors in (1, 10, 100) or self.write_errors % 1000 == 0:
            self.log.warn("{who}: cannot write {key} ({error}); retrying", who=self.who, key=key,
                          error=failure.getErrorMessage())
        delay = self._retry
        self._retry = min(self._retry * 2, RETRY_MAX)
        self.reactor.callLater(delay, self._flush)
