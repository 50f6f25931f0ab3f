"""kubewatch at work: the cluster's Services and EndpointSlices followed, their records kept in etcd.

Two kinds of objects are reflected (:mod:`.reflector`: listed, then watched), per
namespace when namespaces are named, else cluster-wide. Every change recomputes the
records of the Service it touches (:mod:`.records`) and writes the difference: each
record a key of its own under this watcher's lease (:class:`LeasedKeys`), so the records
of a watcher that stops go with it (at once when it stops cleanly, when its lease runs out
when it is killed).

**Several watchers** register under ``members`` (each under its own lease) and share the
Services by rendezvous hashing over the members they see (polled every half lease): each
writes only its own. When one goes its lease runs out, its records and its registration
with it, and the others take its Services over at their next poll.
"""
from __future__ import annotations

import json

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.internet import task
from twisted.logger import Logger
from zope.interface import implementer

from skydns.clients.etcd.leased import LeasedKeys
from skydns.clients.etcd.sharing import owner
from skydns.interfaces import IMetrics, IReadiness
from skydns.msg import path
from skydns.plugin.kubewatch.api import Api
from skydns.plugin.kubewatch.records import SERVICE_NAME_LABEL, records, service_of_slice
from skydns.plugin.kubewatch.reflector import Reflector

log = Logger(namespace="skydns.plugin.kubewatch")
SERVICES = ("/api/v1", "services")
SLICES = ("/apis/discovery.k8s.io/v1", "endpointslices")


def _key(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


@implementer(IMetrics, IReadiness)
class KubeWatch:
    name = "kubewatch"

    def __init__(self, reactor, clock, credentials, source, options):
        self.reactor = reactor
        self.clock = clock
        self.options = options  # setup.Options
        self.prefix = source.prefix
        self.zone = options.zone
        self.member = options.member
        self.members = {self.member}
        members_key = f"{options.members.rstrip('/')}/{self.member}"
        self.keys = LeasedKeys(reactor, source.connection, options.lease, f"kubewatch {self.member}", log,
                               registration=(members_key, json.dumps({"lease": options.lease})))
        self.services: dict[tuple[str, str], dict] = {}
        self.slices: dict[tuple[str, str], dict] = {}
        self.slices_of: dict[tuple[str, str], set] = {}  # service -> its slices
        self.written: dict[tuple[str, str], dict[str, str]] = {}  # service -> the keys this watcher keeps for it
        self.reflectors: list[Reflector] = []
        scopes = [f"/namespaces/{ns}" for ns in options.namespaces] or [""]
        for base, kind in (SERVICES, SLICES):
            for scope in scopes:
                params = {"labelSelector": options.labels} if kind == "services" and options.labels else \
                    {"labelSelector": SERVICE_NAME_LABEL} if kind == "endpointslices" else {}
                what = kind + (f" in {scope.rsplit('/', 1)[1]}" if scope else "")
                deliver = self._services if kind == "services" else self._slices
                self.reflectors.append(Reflector(reactor, Api(credentials), f"{base}{scope}/{kind}", params,
                                                 _scoped(deliver, scope.rsplit("/", 1)[1] if scope else None), what))
        self._poll: task.LoopingCall | None = None
        self.members_known = False
        self.running = False

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self):
        self.running = True
        d = self.keys.start()
        for r in self.reflectors:
            r.start()
        self._poll = task.LoopingCall(self._poll_members)
        self._poll.clock = self.clock
        self._poll.start(max(1.0, self.options.lease / 2), now=True)
        return d

    def stop(self):
        self.running = False
        for r in self.reflectors:
            r.stop()
        if self._poll is not None and self._poll.running:
            self._poll.stop()
        return self.keys.stop()  # the lease revoked: this watcher's records go at once

    # -- what the cluster says ------------------------------------------------------------------
    def _services(self, kind: str, obj, namespace: str | None) -> None:
        if kind == "LIST":
            fresh = {_key(o): o for o in obj if self._wanted_namespace(_key(o)[0])}
            gone = [k for k in self.services if (namespace is None or k[0] == namespace) and k not in fresh]
            for k in gone:
                del self.services[k]
            self.services.update(fresh)
            for k in gone + list(fresh):
                self._sync(k)
            return
        k = _key(obj)
        if not self._wanted_namespace(k[0]):
            return
        if kind == "DELETED":
            self.services.pop(k, None)
        else:
            self.services[k] = obj
        self._sync(k)

    def _slices(self, kind: str, obj, namespace: str | None) -> None:
        if kind == "LIST":
            fresh = {_key(o): o for o in obj}
            gone = [k for k in self.slices if (namespace is None or k[0] == namespace) and k not in fresh]
            touched = set()
            for k in gone:
                touched.add(self._drop_slice(k))
            for k, o in fresh.items():
                touched.add(self._drop_slice(k))
                touched.add(self._add_slice(k, o))
            for svc in touched - {None}:
                self._sync(svc)
            return
        k = _key(obj)
        touched = {self._drop_slice(k)}
        if kind != "DELETED":
            touched.add(self._add_slice(k, obj))
        for svc in touched - {None}:
            self._sync(svc)

    def _add_slice(self, k, obj):
        svc = service_of_slice(obj)
        if svc is not None:
            self.slices[k] = obj
            self.slices_of.setdefault(svc, set()).add(k)
        return svc

    def _drop_slice(self, k):
        old = self.slices.pop(k, None)
        svc = service_of_slice(old) if old is not None else None
        if svc is not None:
            self.slices_of.get(svc, set()).discard(k)
        return svc

    def _wanted_namespace(self, namespace: str) -> bool:
        return namespace not in self.options.exclude

    # -- what etcd holds ------------------------------------------------------------------------
    def _owns(self, k: tuple[str, str]) -> bool:
        return owner(self.members, f"{k[0]}/{k[1]}") == self.member

    def _sync(self, k: tuple[str, str]) -> None:
        """Write the difference between the records of service ``k`` now and those kept for it."""
        if not self.members_known:
            return  # not before the other watchers are known: the first reading of them writes everything
        svc = self.services.get(k)
        wanted: dict[str, str] = {}
        if svc is not None and self._owns(k):
            slices = [self.slices[s] for s in sorted(self.slices_of.get(k, ())) if s in self.slices]
            for name, leaf, service in records(svc, slices, self.zone, self.options.cluster_ip):
                key = path.name_to_key(name, self.prefix) + (f"/{leaf}" if leaf else "")
                wanted[key] = json.dumps(service, sort_keys=True)
        before = self.written.get(k, {})
        for key in before.keys() - wanted.keys():
            self.keys.put(key, None)
        for key, value in wanted.items():
            if before.get(key) != value:
                self.keys.put(key, value)
        if wanted:
            self.written[k] = wanted
        else:
            self.written.pop(k, None)

    def _poll_members(self):
        prefix = f"{self.options.members.rstrip('/')}/"

        d = self.keys.run(lambda client: {meta.key.decode()[len(prefix):] for _, meta in client.get_prefix(prefix)})
        d.addCallbacks(self._members_now, lambda f: None)  # etcd away: the last members stand
        return d

    def _members_now(self, seen: set) -> None:
        members = seen | {self.member}
        first = not self.members_known
        self.members_known = True
        if members == self.members and not first:
            return
        log.info("kubewatch {member}: {n} watchers ({names})", member=self.member, n=len(members),
                 names=" ".join(sorted(members)))
        self.members = members
        for k in list(self.services):
            if k in self.written and not self._owns(k):
                for key in self.written.pop(k):
                    self.keys.forget(key)  # another watcher writes them now (under its lease)
            elif self._owns(k):
                # Written again even when unchanged: a watcher that wrote them before it knew of this one
                # may hold them under its lease (they would go with it).
                for key, value in self.written.pop(k, {}).items():
                    self.keys.put(key, value)
                self._sync(k)

    # -- IReadiness, IMetrics -------------------------------------------------------------------
    def ready(self) -> str | None:
        waiting = [r.what for r in self.reflectors if not r.listed]
        if waiting:
            return f"kubewatch: not listed yet: {', '.join(waiting)}"
        if self.keys.lease is None:
            return "kubewatch: no etcd lease yet"
        return None

    def collect(self, prefix: str):
        who = [self.member]
        kept = GaugeMetricFamily(prefix + "kubewatch_records", "Records this watcher keeps in etcd.",
                                 labels=["watcher"])
        kept.add_metric(who, sum(len(v) for v in self.written.values()))
        owned = GaugeMetricFamily(prefix + "kubewatch_services", "Services this watcher writes (its share).",
                                  labels=["watcher"])
        owned.add_metric(who, len(self.written))
        watchers = GaugeMetricFamily(prefix + "kubewatch_watchers", "Watchers sharing the services.",
                                     labels=["watcher"])
        watchers.add_metric(who, len(self.members))
        events = CounterMetricFamily(prefix + "kubewatch_events", "Watch events received.", labels=["watcher"])
        events.add_metric(who, sum(r.events for r in self.reflectors))
        lists = CounterMetricFamily(prefix + "kubewatch_lists", "Lists (first, and after 410 Gone).",
                                    labels=["watcher"])
        lists.add_metric(who, sum(r.lists for r in self.reflectors))
        errors = CounterMetricFamily(prefix + "kubewatch_api_errors", "Failed lists and watches.", labels=["watcher"])
        errors.add_metric(who, sum(r.errors for r in self.reflectors))
        return (kept, owned, watchers, events, lists, errors)


def _scoped(deliver, namespace: str | None):
    return lambda kind, obj: deliver(kind, obj, namespace)
