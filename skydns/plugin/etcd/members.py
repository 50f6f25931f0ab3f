"""SkyDNS's ``-discover``: a copy's endpoints follow the etcd cluster's member list.

Read at every connection and every ``DISCOVER_EVERY`` seconds; a changed list is
used from the next (re)connection on.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from twisted.internet import task
from twisted.logger import Logger

from skydns.clients.etcd.connection import parse_endpoint

log = Logger(namespace="skydns.plugin.etcd")

#: Seconds between readings of the member list.
DISCOVER_EVERY = 30.0


def _member_urls(client) -> list[str]:
    """In a thread: the client URLs of every member of the cluster."""
    return [u for m in client.members for u in m.client_urls]


class Members:
    """The member list of one copy's cluster (a :class:`~skydns.plugin.etcd.mirror.PrefixCopy`)."""

    def __init__(self, copy):
        self.copy = copy
        self._loop: Any = None

    def start(self) -> None:
        if self._loop is None:
            self._loop = task.LoopingCall(self.rediscover)
            self._loop.clock = self.copy.timers
            self._loop.start(DISCOVER_EVERY, now=False)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def rediscover(self) -> None:
        client = self.copy.client
        if client is None:
            return
        d = self.copy.in_thread(_member_urls, client)
        d.addCallbacks(self.discovered, lambda f: log.info("etcd member list not read: {why}",
                                                            why=f.getErrorMessage()))

    def discovered(self, urls: list[str]) -> None:
        """The cluster's members as the endpoints to use from now on."""
        copy = self.copy
        try:
            endpoints = tuple(parse_endpoint(u) for u in urls)
        except ValueError as e:
            log.warn("etcd member list has an unusable URL ({error}); endpoints kept", error=e)
            return
        if endpoints and set(endpoints) != set(copy.connection.endpoints):
            log.info("etcd members: {urls} (were {old})", urls=", ".join(urls),
                     old=", ".join(str(e) for e in copy.connection.endpoints))
            copy.use_endpoints(dataclasses.replace(copy.connection, endpoints=endpoints))
