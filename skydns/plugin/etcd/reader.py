"""The one reader of the etcd copy: a name's services as answers, other plugins and transfers see them.

Every read of the copy's index by the etcd plugin goes through :class:`Reader`, so
the handler's answers, what other plugins read (``IRecordSource.services``) and the
zone data of transfers agree: SkyDNS's groups applied, duplicates counted once and,
with a health monitor, addresses it says are DOWN left out (unless every address of
the name is: then all of them are answered, "fail open"). Transfers read without the
monitor: a secondary holds every address.
"""
from __future__ import annotations

from twisted.logger import Logger

from skydns.msg import path
from skydns.msg.records import LEAF
from skydns.msg.service import Service, dedupe, group_filter

log = Logger(namespace="skydns.plugin.etcd")


class Reader:
    """Reads the copy (an :class:`~skydns.plugin.etcd.copy.RecordsCopy`); ``monitor``: the copy of the
    health monitor's status keys, or None. ``ttl``, ``min_lease_ttl``, ``max_lease_ttl``: the etcd
    directive's, for :meth:`ttl`."""

    def __init__(self, copy, monitor=None, ttl: int = 3600, min_lease_ttl: int = 0, max_lease_ttl: int = 86400):
        self.copy = copy
        self.monitor = monitor
        self.default_ttl = ttl
        self.min_lease_ttl = min_lease_ttl
        self.max_lease_ttl = max_lease_ttl
        self.failed_open: set[str] = set()

    def services(self, name: str, exact: bool = False) -> list[Service] | None:
        """The services of ``name`` (with ``exact``, its own key's only); None if the name does not exist."""
        labels = path.name_labels(name)
        index = self.copy.index
        if exact:
            found = index.lookup(labels, exact=True)
            if not found and not index.exists(labels):
                return None
            return dedupe(found)
        found = index.lookup(labels)
        if not found:
            return None
        svcs = dedupe(group_filter(found))
        if self.monitor is not None and self.monitor.down:
            svcs = self._alive(name, svcs)
        return svcs

    def exists(self, name: str) -> bool:
        return self.copy.index.exists(path.name_labels(name))

    def own(self, name: str) -> list[Service]:
        """The services at ``name`` and its ``x<n>`` leaves (the records API's way to give a name several
        records): what a transfer carries for the name."""
        return self.own_at(self.copy.index.nodes(path.name_labels(name)))

    @staticmethod
    def own_at(nodes: list) -> list[Service]:
        """:meth:`own` of the index nodes a name reaches (a walk of the zone has them already)."""
        found = [node.record for node in nodes if node.record is not None]  # index.lookup(exact=True)
        for node in nodes:
            children = node.children
            if children:
                for label, child in children.items():
                    if child.record is not None and LEAF.match(label):
                        found.append(child.record)
        return dedupe(group_filter(found)) if found else []

    def ttl(self, s: Service) -> int:
        """SkyDNS's TTL: the service's own or the default, or the key's lease countdown when smaller
        (kept within min-lease-ttl and max-lease-ttl)."""
        ttl = s.ttl or self.default_ttl
        if s.lease:
            left = self.copy.lease_ttl(s.lease)
            if left is not None:
                left = min(max(left, self.min_lease_ttl), self.max_lease_ttl)
                if left < ttl:
                    ttl = left
        return ttl

    def _alive(self, name: str, svcs: list[Service]) -> list[Service]:
        """Leave out addresses the monitor says are DOWN, unless all of them are (fail open)."""
        down = self.monitor.down
        alive = [s for s in svcs if not (s.kind in ("A", "AAAA") and s.host in down)]
        if len(alive) == len(svcs):
            return svcs
        if any(s.kind in ("A", "AAAA") for s in alive):
            self.failed_open.discard(name)
            return alive
        if name not in self.failed_open:
            self.failed_open.add(name)
            log.warn("every address of {name} is DOWN: answering with all of them", name=name)
        return svcs
