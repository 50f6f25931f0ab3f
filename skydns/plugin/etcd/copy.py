"""The records copy: every service under the etcd prefix, indexed, with its lease and the zones' serials.

A :class:`~skydns.plugin.etcd.mirror.PrefixCopy` whose keys are SkyDNS services
(:func:`skydns.msg.service.from_json`): a key whose value is not a valid service is
skipped with one warning naming it. Leases are looked up in the background, so a
leased key answers with its countdown (:meth:`RecordsCopy.lease_ttl`); every zone
watched keeps the revision of its last change, its SOA serial.
"""
from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.logger import Logger
from zope.interface import implementer

from skydns.interfaces import IMetrics
from skydns.msg import path
from skydns.msg.service import InvalidService, from_json
from skydns.plugin.etcd.index import Index
from skydns.plugin.etcd.mirror import RETRY_MAX, RETRY_MIN, STALE_AFTER, PrefixCopy

log = Logger(namespace="skydns.plugin.etcd")

__all__ = ["RecordsCopy", "STALE_AFTER", "RETRY_MIN", "RETRY_MAX"]


class Lease:
    """What we know of one lease's remaining time, refreshed from etcd when it gets old."""

    __slots__ = ("granted", "remaining", "at", "fetching")

    def __init__(self):
        self.granted = 0
        self.remaining = 0
        self.at = 0.0
        self.fetching = False


@implementer(IMetrics)
class RecordsCopy(PrefixCopy):
    """Every service under ``prefix``, indexed, kept current by a watch.

    :ivar index: the :class:`~skydns.plugin.etcd.index.Index` (replaced whole after a re-read).
    :ivar bad: keys skipped, and why.
    """

    things = "services"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.index = Index()
        self.serials: dict[tuple, int] = {}
        self.leases: dict[int, Lease] = {}
        self.bad: dict[str, str] = {}

    # -- zones and leases ---------------------------------------------------------------------
    def watch_zone(self, zone: str) -> None:
        """Track the revision of the last change under ``zone`` (for its SOA serial)."""
        self.serials.setdefault(tuple(path.name_labels(zone)), self.revision)

    def serial(self, zone: str) -> int:
        return self.serials.get(tuple(path.name_labels(zone)), self.revision) & 0xFFFFFFFF

    def lease_ttl(self, lease_id: int) -> int | None:
        """Seconds left on a key's lease (estimated; refreshed in the background when old)."""
        lease = self.leases.get(lease_id)
        if lease is None:
            lease = self.leases[lease_id] = Lease()
        now = self.clock()
        if lease.at == 0.0 or now - lease.at > max(lease.granted / 4, 1.0):
            self._fetch_lease(lease_id, lease)
        if lease.at == 0.0:
            return None
        return max(int(lease.remaining - (now - lease.at)), 1)

    def collect(self, prefix: str):
        """Metrics of the copy (IMetrics), labelled with its etcd path."""
        labels = [self.prefix]
        families: list[tuple] = [
            (GaugeMetricFamily, "etcd_revision", "etcd revision of the copy.", self.revision),
            (GaugeMetricFamily, "etcd_services", "Services in the copy.", self.index.count),
            (CounterMetricFamily, "etcd_watch_reconnects", "Reconnections of the etcd watch.", self.reconnects),
            (GaugeMetricFamily, "etcd_last_event_age_seconds", "Seconds since the copy last changed or was read.",
             self.clock() - self.last_event if self.last_event else -1),
            (GaugeMetricFamily, "etcd_synced", "1 once the copy has been read.", 1 if self.synced else 0),
            (GaugeMetricFamily, "etcd_copy_age_seconds", "Seconds since the copy was last confirmed current.",
             self.age()),
            (CounterMetricFamily, "etcd_stalls", "Times the copy's member went silent and another was tried.",
             self.freshness.stalls),
            (GaugeMetricFamily, "etcd_waiting_queries", "Queries waiting for the copy's first read.",
             len(self._waiting)),
        ]
        for kind, name, text, value in families:
            family = kind(prefix + name, text, labels=["path"])
            family.add_metric(labels, value)
            yield family

    # -- PrefixCopy ---------------------------------------------------------------------------
    def _build(self, kvs):
        index = Index()
        bad: dict[str, str] = {}
        serials = {z: 0 for z in self.serials}
        for kv in kvs:
            key = kv.key.decode("utf-8", "replace")
            labels = path.key_labels(key, self.prefix)
            if labels is None:
                continue
            try:
                svc = from_json(kv.value, path.labels_to_name(labels), kv.lease)
            except InvalidService as e:
                bad[key] = str(e)
                continue
            index.put(labels, svc)
            for z in serials:
                if tuple(labels[:len(z)]) == z and kv.mod_revision > serials[z]:
                    serials[z] = kv.mod_revision
        return index, bad, serials

    def _install(self, state, revision: int) -> int:
        index, bad, serials = state
        self.index = index
        for z, rev in serials.items():
            self.serials[z] = rev or revision
        for key, why in bad.items():
            if self.bad.get(key) != why:
                log.warn("etcd key {key} skipped: {why}", key=key, why=why)
        self.bad = bad
        return index.count

    def _loaded(self) -> None:
        self._fetch_all_leases()

    def _apply(self, event) -> None:
        key = event.key.decode("utf-8", "replace")
        labels = path.key_labels(key, self.prefix)
        if labels is None:
            return
        name = path.labels_to_name(labels)
        rev = event.mod_revision
        if type(event).__name__ == "DeleteEvent":
            self.index.delete(labels)
            self.bad.pop(key, None)
        else:
            try:
                svc = from_json(event.value, name, event.lease)
            except InvalidService as e:
                why = str(e)
                if self.bad.get(key) != why:
                    log.warn("etcd key {key} skipped: {why}", key=key, why=why)
                self.bad[key] = why
                self.index.delete(labels)
                svc = None
            else:
                self.bad.pop(key, None)
                self.index.put(labels, svc)
            if svc is not None and svc.lease:
                lease = self.leases[svc.lease] = Lease()  # a new lease, or a new put: look it up now
                self._fetch_lease(svc.lease, lease)
        for z in self.serials:
            if tuple(labels[:len(z)]) == z:
                self.serials[z] = rev
        self._changed(name)

    # -- leases ---------------------------------------------------------------
    def _fetch_all_leases(self) -> None:
        """After a full read: learn every lease's remaining time, in one background job."""
        ids = set()
        stack = [self.index.root]
        while stack:
            n = stack.pop()
            if n.record is not None and n.record.lease:
                ids.add(n.record.lease)
            if n.children:
                stack.extend(n.children.values())
        client = self._client
        if not ids or client is None:
            return

        def fetch_all():
            out = {}
            for i in ids:
                try:
                    info = client.get_lease_info(i)
                    out[i] = (int(info.grantedTTL), int(info.TTL))
                except Exception:
                    pass
            return out

        def got(found):
            now = self.clock()
            for i, (granted, left) in found.items():
                lease = self.leases.setdefault(i, Lease())
                lease.granted, lease.remaining, lease.at = granted, max(left, 0), now

        self.in_thread(fetch_all).addCallbacks(got, lambda f: None)

    def _fetch_lease(self, lease_id: int, lease: Lease) -> None:
        if lease.fetching or self._client is None:
            return
        lease.fetching = True
        d = self.in_thread(self._client.get_lease_info, lease_id)

        def got(info):
            lease.fetching = False
            lease.granted = int(info.grantedTTL)
            lease.remaining = max(int(info.TTL), 0)
            lease.at = self.clock()

        def failed(f):
            lease.fetching = False

        d.addCallbacks(got, failed)
