"""The scanner's side of etcd: its lease (kept alive), its registration, and the status keys it writes.

Every write goes under the scanner's lease: when the scanner is gone (killed, or its
machine cut off) the lease runs out and etcd deletes its keys, so answers fail open
(every address served) instead of staying DOWN. Blocking client calls run in threads;
writes go one at a time, coalesced per address (only the latest wish for each is
kept), and are retried until etcd takes them. A lease found expired (etcd was
unreachable longer than its TTL) is replaced and everything written again.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, task, threads
from twisted.logger import Logger

log = Logger(namespace="skydns.plugin.scanner")

RETRY_MIN = 0.5
RETRY_MAX = 5.0


class EtcdWriter:
    def __init__(self, reactor, connection, status_prefix: str, member: str, ttl: int,
                 lease_lost: Callable[[], None]):
        self.reactor = reactor
        self.connection = connection
        self.prefix = status_prefix
        self.member = member
        self.ttl = ttl
        self.lease_lost = lease_lost  # called when a new lease replaced an expired one: write everything again
        self.lease: int | None = None
        self.wanted: dict[str, str | None] = {}  # ip -> "UP", "DOWN" or None (delete), not written yet
        self.writes = 0
        self.write_errors = 0
        self._client: Any = None
        self._endpoint = 0
        self._busy = False
        self._retry = RETRY_MIN
        self._keeper: task.LoopingCall | None = None
        self._keeping = False
        self._running = False

    # -- blocking helpers (threads) -------------------------------------------------------
    def _call(self, fn):
        """Run ``fn(client)`` with a client, trying the next endpoint when one fails."""
        endpoints = self.connection.endpoints
        last: Exception | None = None
        for _ in range(len(endpoints)):
            if self._client is None:
                self._client = self.connection.client(endpoints[self._endpoint % len(endpoints)])
            try:
                return fn(self._client)
            except Exception as e:  # unreachable, timed out, no leader: the next member
                last = e
                client, self._client = self._client, None
                self._endpoint += 1
                try:
                    client.close()
                except Exception:
                    pass
        raise ConnectionError(f"etcd unreachable: {last}")

    def _grant_and_register(self) -> int:
        def run(client):
            lease = client.lease(self.ttl)
            client.put(f"{self.prefix}/scanners/{self.member}", json.dumps({"ttl": self.ttl}), lease=lease.id)
            return lease.id

        return self._call(run)

    # -- the lease ------------------------------------------------------------------------------
    @defer.inlineCallbacks
    def start(self):
        self._running = True
        while self._running and self.lease is None:
            try:
                self.lease = yield threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                                             self._grant_and_register)
                log.info("scanner {member} registered under {prefix}/scanners (lease {ttl}s)",
                         member=self.member, prefix=self.prefix, ttl=self.ttl)
            except Exception as e:
                log.warn("scanner {member}: cannot register in etcd ({error}); retrying", member=self.member,
                         error=e)
                yield task.deferLater(self.reactor, self._retry, lambda: None)
                self._retry = min(self._retry * 2, RETRY_MAX)
        self._retry = RETRY_MIN
        if not self._running:
            return
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
            def refresh(client):
                return [r.TTL for r in client.refresh_lease(lease)]

            ttls = yield threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), self._call, refresh)
            if not ttls or ttls[-1] <= 0:
                log.warn("scanner {member}: lease expired (etcd was out of reach); registering again and "
                         "writing every status again", member=self.member)
                self.lease = yield threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                                             self._grant_and_register)
                self.lease_lost()
        except Exception as e:
            log.warn("scanner {member}: cannot keep the lease alive ({error}); keeping the last state",
                     member=self.member, error=e)
        finally:
            self._keeping = False

    @defer.inlineCallbacks
    def stop(self):
        """Stop, and revoke the lease: this scanner's keys go at once (answers fail open, or the others take over)."""
        self._running = False
        if self._keeper is not None and self._keeper.running:
            self._keeper.stop()
        lease, self.lease = self.lease, None
        if lease is not None:
            try:
                yield threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), self._call,
                                                lambda client: client.revoke_lease(lease))
            except Exception as e:
                log.warn("scanner {member}: could not revoke its lease ({error}); its keys expire in {ttl}s",
                         member=self.member, error=e, ttl=self.ttl)
        client, self._client = self._client, None
        if client is not None:
            yield threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), client.close)

    # -- status keys ----------------------------------------------------------------------------
    def put(self, ip: str, status: str | None) -> None:
        """Write ``{"status": status}`` at ``PREFIX/ip`` (None: delete the key), as soon as etcd takes it."""
        self.wanted[ip] = status
        self._flush()

    def _flush(self) -> None:
        if self._busy or not self.wanted or self.lease is None or not self._running:
            return
        ip = next(iter(self.wanted))
        status = self.wanted.pop(ip)
        lease = self.lease
        key = f"{self.prefix}/{ip}"

        def write(client):
            if status is None:
                client.delete(key)
            else:
                client.put(key, json.dumps({"status": status}), lease=lease)

        self._busy = True
        d = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), self._call, write)
        d.addCallbacks(self._written, self._failed, errbackArgs=(ip, status))

    def _written(self, _result) -> None:
        self._busy = False
        self.writes += 1
        self._retry = RETRY_MIN
        self._flush()

    def _failed(self, failure, ip: str, status: str | None) -> None:
        self._busy = False
        self.write_errors += 1
        self.wanted.setdefault(ip, status)  # unless a newer wish came meanwhile
        if self.write_errors in (1, 10, 100) or self.write_errors % 1000 == 0:
            log.warn("scanner {member}: cannot write {prefix}/{ip} ({error}); retrying", member=self.member,
                     prefix=self.prefix, ip=ip, error=failure.getErrorMessage())
        delay = self._retry
        self._retry = min(self._retry * 2, RETRY_MAX)
        self.reactor.callLater(delay, self._flush)
