"""The scanner's side of etcd: its registration and the status keys it writes, under its lease.

Every write goes under the scanner's lease (:class:`skydns.clients.etcd.leased.LeasedKeys`):
when the scanner is gone (killed, or its machine cut off) the lease runs out and etcd deletes
its keys, so answers fail open (every address served) instead of staying DOWN.
"""
from __future__ import annotations

import json
import time

from twisted.logger import Logger

from skydns.clients.etcd.leased import LeasedKeys

log = Logger(namespace="skydns.plugin.scanner")


class EtcdWriter(LeasedKeys):
    def __init__(self, reactor, connection, status_prefix: str, member: str, ttl: int):
        super().__init__(reactor, connection, ttl, f"scanner {member}", log,
                         registration=(f"{status_prefix}/scanners/{member}", json.dumps({"ttl": ttl})))
        self.prefix = status_prefix
        self.member = member

    def put(self, ip: str, status: str | None, since: float | None = None) -> None:
        """Write ``{"status": status, "since": NOW, "by": MEMBER}`` at ``PREFIX/ip`` (None: delete the key),
        as soon as etcd takes it; the scanner writes only changes, so ``since`` is when it changed (a
        scanner taking an address over keeps the ``since`` it found)."""
        value = None if status is None else json.dumps({"status": status, "since": int(since or time.time()),
                                                        "by": self.member})
        super().put(f"{self.prefix}/{ip}", value)
