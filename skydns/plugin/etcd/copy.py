"""A watched in-memory copy of everything under an etcd prefix.

One range read (in pages, all at the revision of the first page), then a
watch from the next revision: every put and delete, lease expiries included,
is applied in order in the reactor thread. Answering a query never waits on
etcd. Blocking client calls run in the reactor's thread pool.

When the watch breaks (etcd down, network), the copy keeps serving what it
has, logs one warning for the outage, and retries with back-off, moving to
the next endpoint each time. A watch that can resume resumes from the last
revision it applied; if that revision was compacted meanwhile, the prefix is
read again and the new index swapped in whole.
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.internet import defer, task, threads
from twisted.logger import Logger
from zope.interface import implementer

from skydns.clients.etcd.connection import Connection
from skydns.clients.etcd.watch import Events, PrefixWatch, Progress, prefix_end
from skydns.interfaces import IMetrics
from skydns.msg import path
from skydns.msg.service import InvalidService, from_json
from skydns.plugin.etcd.index import Index

log = Logger(namespace="skydns.plugin.etcd")

PAGE = 5000
#: Reconnection back-off, doubling from RETRY_MIN: capped low so that the copy catches up within
#: seconds of etcd returning, however long the outage (gRPC's own back-off is capped alike).
RETRY_MIN = 0.25
RETRY_MAX = 2.0
#: Queries that may wait for the first read at most (beyond, they are answered SERVFAIL at once),
#: and how long each may wait: enough to ride out a read that takes milliseconds (a restart),
#: short enough that a client whose etcd is down hears SERVFAIL before it gives up itself.
MAX_WAITING = 10_000
QUERY_WAIT = 1.0
#: Seconds without anything confirming the copy current (a watch event, a read, the member answering
#: a probe with a leader) after which it counts as stale: logged, reconnected to another member,
#: and not ready. The etcd directive's ``stale_after``.
STALE_AFTER = 10.0


class Lease:
    """What we know of one lease's remaining time, refreshed from etcd when it gets old."""

    __slots__ = ("granted", "remaining", "at", "fetching")

    def __init__(self):
        self.granted = 0
        self.remaining = 0
        self.at = 0.0
        self.fetching = False


#: Seconds between readings of the member list with ``discover``.
DISCOVER_EVERY = 30.0


def _member_urls(client) -> list[str]:
    """In a thread: the client URLs of every member of the cluster."""
    return [u for m in client.members for u in m.client_urls]


#: Under a status prefix, where the scanners register themselves (``PREFIX/scanners/<id>``).
MEMBERS = "scanners"

@implementer(IMetrics)
class EtcdCopy:
    """Everything under ``prefix``, indexed, kept current by a watch.

    :ivar index: the :class:`Index` (replaced whole after a compaction re-read).
    :ivar revision: the etcd revision the copy reflects.
    :ivar synced: True once the first read completed.
    """

    def __init__(self, connection: Connection, prefix: str, reactor, clock=time.monotonic,
                 status: bool = False, timers=None, stale_after: float = STALE_AFTER, discover: bool = False):
        """``status=True``: a copy of health-monitor keys ``PREFIX/<ip>`` holding
        ``{"status": "UP"|"DOWN"}``, kept in :attr:`down` instead of the index.

        ``reactor`` runs the blocking client in its threads; ``timers`` (an
        IReactorTime, the reactor by default: tests give a task.Clock) times
        the start wait and the reconnection back-off; ``clock`` reads the time;
        ``stale_after`` (0: never) see STALE_AFTER.
        """
        self.status = status
        #: SkyDNS's -discover: the endpoints follow the cluster's member list (read at every connection
        #: and every DISCOVER_EVERY seconds)
        self.discover = discover
        self._discoverer: Any = None
        self.down: set[str] = set()
        #: status copies: the scanners registered under PREFIX/scanners/, and who wants to hear of them
        self.members: dict[str, bytes] = {}
        self.member_listeners: list[Callable[[], None]] = []
        self.connection = connection
        self.prefix = "/" + prefix.strip("/")
        self.reactor = reactor
        self.timers = timers if timers is not None else reactor
        self.clock = clock
        self.index = Index()
        self.revision = 0
        self.synced = False
        self.serials: dict[tuple, int] = {}
        self.leases: dict[int, Lease] = {}
        self.listeners: list[Callable[[str | None], None]] = []
        self.bad: dict[str, str] = {}
        self.reconnects = 0
        self.last_event = 0.0
        self.stale_after = stale_after
        self.last_fresh = 0.0  # when something last confirmed the copy current
        self.stalls = 0
        self._checker: Any = None
        self._probing = False
        self._leaderless = False
        self._endpoint = 0
        self._client: Any = None
        self._watch: PrefixWatch | None = None
        self._running = False
        self._outage: float | None = None
        self._retry = RETRY_MIN
        self._pending_retry: Any = None
        self._first: defer.Deferred[EtcdCopy] = defer.Deferred()
        self._generation = 0  # bumps on every (re)connection, to ignore stale watch callbacks
        #: queries waiting for the first read (see when_loaded); gave_up once the start wait passed
        self._waiting: dict[defer.Deferred, Any] = {}  # -> its QUERY_WAIT timer
        self.gave_up = False

    # -- life cycle -----------------------------------------------------------
    def start(self, wait: float = 5.0) -> defer.Deferred:
        """Begin reading; fires once the first read is done, or after ``wait`` seconds regardless."""
        if not self._running:
            self._running = True
            self._connect()
            if self.discover and self._discoverer is None:
                self._discoverer = task.LoopingCall(self._rediscover)
                self._discoverer.clock = self.timers
                self._discoverer.start(DISCOVER_EVERY, now=False)
            if self.stale_after and self._checker is None:
                self._checker = task.LoopingCall(self._check)
                self._checker.clock = self.timers
                self._checker.start(max(self.stale_after / 4, 0.25), now=False)
        if self.synced:
            return defer.succeed(self)
        d: defer.Deferred[EtcdCopy] = defer.Deferred()

        def waited() -> None:
            self.gave_up = True
            self._release(False)
            if not d.called:
                d.callback(self)

        timer = self.timers.callLater(wait, waited)

        def done(result):
            if timer.active():
                timer.cancel()
            if not d.called:
                d.callback(self)
            return result

        self._first.addBoth(done)
        return d

    def when_loaded(self) -> defer.Deferred | None:
        """For a query that arrives before the first read: a Deferred firing True once the copy is
        loaded, or False after QUERY_WAIT seconds or when the start wait passes. None when waiting
        makes no sense any more (the start wait is over) or MAX_WAITING queries wait already."""
        if self.synced or self.gave_up or len(self._waiting) >= MAX_WAITING:
            return None
        d: defer.Deferred[bool] = defer.Deferred()
        self._waiting[d] = self.timers.callLater(QUERY_WAIT, self._expire, d)
        return d

    def _expire(self, d: defer.Deferred) -> None:
        del self._waiting[d]
        d.callback(False)

    def _release(self, loaded: bool) -> None:
        waiting, self._waiting = self._waiting, {}
        for d, timer in waiting.items():
            if timer.active():
                timer.cancel()
            d.callback(loaded)

    def stop(self) -> None:
        self._release(False)
        self._running = False
        if self._checker is not None and self._checker.running:
            self._checker.stop()
        self._checker = None
        if self._discoverer is not None and self._discoverer.running:
            self._discoverer.stop()
        self._discoverer = None
        self._generation += 1
        if self._pending_retry is not None and self._pending_retry.active():
            self._pending_retry.cancel()
        self._let_go()

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
             self.stalls),
        ]
        for kind, name, text, value in families:
            family = kind(prefix + name, text, labels=["path"])
            family.add_metric(labels, value)
            yield family

    # -- reading --------------------------------------------------------------
    def _connect(self, full_read: bool = False) -> None:
        """Connect (in a thread) and watch; read everything first unless resuming a synced copy."""
        self._generation += 1
        gen = self._generation
        endpoint = self.connection.endpoints[self._endpoint % len(self.connection.endpoints)]
        resume = self.revision if self.synced and not full_read else None
        d = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(),
                                      self._open, endpoint, resume, gen)
        d.addCallbacks(self._opened, self._failed, callbackArgs=(gen, endpoint), errbackArgs=(gen, endpoint))

    def _open(self, endpoint, resume, gen):
        """In a thread: connect, read the prefix if needed, start the watch."""
        import pyetcd.exceptions

        client = self.connection.client(endpoint)
        loaded = None
        if resume is None:
            loaded = self._read(client)
            start = loaded[1] + 1
        else:
            start = resume + 1
        deliver = lambda item: self.reactor.callFromThread(self._watched, item, gen)
        prefix = self.prefix.encode() + b"/"
        timeout = self.connection.timeout
        try:
            watch = PrefixWatch(client, prefix, start, deliver, timeout).start()
        except pyetcd.exceptions.RevisionCompactedError:
            loaded = self._read(client)
            watch = PrefixWatch(client, prefix, loaded[1] + 1, deliver, timeout).start()
        return client, watch, loaded

    def _rediscover(self) -> None:
        client = self._client
        if client is None:
            return
        d = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), _member_urls, client)
        d.addCallbacks(self._discovered, lambda f: log.info("etcd member list not read: {why}",
                                                             why=f.getErrorMessage()))

    def _discovered(self, urls: list[str]) -> None:
        """The cluster's members as the endpoints to use from now on (SkyDNS's -discover)."""
        from skydns.clients.etcd.connection import parse_endpoint

        try:
            endpoints = tuple(parse_endpoint(u) for u in urls)
        except ValueError as e:
            log.warn("etcd member list has an unusable URL ({error}); endpoints kept", error=e)
            return
        if endpoints and set(endpoints) != set(self.connection.endpoints):
            log.info("etcd members: {urls} (were {old})", urls=", ".join(urls),
                     old=", ".join(str(e) for e in self.connection.endpoints))
            self.connection = dataclasses.replace(self.connection, endpoints=endpoints)
            self._endpoint = 0

    def _read(self, client):
        """In a thread: the whole prefix at one revision, in pages, built into a new index."""
        prefix = self.prefix.encode() + b"/"
        end = prefix_end(prefix)
        start, revision = prefix, None
        kvs = []
        while True:
            resp = client.get_range_response(start, end, limit=PAGE, revision=revision)
            if revision is None:
                revision = resp.header.revision
            kvs.extend(resp.kvs)
            if not resp.more or not resp.kvs:
                break
            start = resp.kvs[-1].key + b"\x00"
        index = Index()
        bad: dict[str, str] = {}
        serials = {z: 0 for z in self.serials}
        if self.status:
            for kv in kvs:
                member = self._member(kv.key)
                if member is not None:
                    index.members[member] = kv.value
                    continue
                ip, is_down = self._status(kv.key, kv.value)
                if is_down:
                    index.down.add(ip)
            return index, revision, bad, serials
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
        return index, revision, bad, serials

    def _opened(self, result, gen, endpoint) -> None:
        client, watch, loaded = result
        if gen != self._generation or not self._running:
            threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), _close,
                                      watch.cancel, client)
            return
        old = self._client
        self._client = client
        self._watch = watch
        if self.discover:
            self.reactor.callLater(0, self._rediscover)
        if old is not None and old is not client:
            threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), _close, None, old)
        if loaded is not None:
            index, revision, bad, serials = loaded
            resync = self.synced
            self.index, self.revision = index, revision
            if self.status:
                self.down = index.down
                if index.members != self.members:
                    self.members = index.members
                    for hear in list(self.member_listeners):
                        hear()
            for z, rev in serials.items():
                self.serials[z] = rev or revision
            for key, why in bad.items():
                if self.bad.get(key) != why:
                    log.warn("etcd key {key} skipped: {why}", key=key, why=why)
            self.bad = bad
            self.synced = True
            self.last_event = self.clock()
            log.info("etcd copy of {prefix} {what} from {endpoint}: {count} {things} at revision {rev}",
                     prefix=self.prefix, what="re-read" if resync else "loaded", endpoint=endpoint,
                     count=len(self.down) if self.status else index.count,
                     things="addresses down" if self.status else "services", rev=revision)
            for fn in self.listeners:
                fn(None)  # everything may have changed
            self._release(True)
            self._fetch_all_leases()
        if self._outage is not None:
            log.info("etcd reachable again at {endpoint} after {secs:.1f}s; watching from revision {rev}",
                     endpoint=endpoint, secs=self.clock() - self._outage, rev=self.revision + 1)
            self._outage = None
        self._retry = RETRY_MIN
        self.last_fresh = self.clock()
        if not self._first.called:
            self._first.callback(self)

    def _failed(self, failure, gen, endpoint) -> None:
        if gen != self._generation or not self._running:
            return
        self._broken(f"{endpoint}: {_describe(failure.value)}")

    def _broken(self, why: str) -> None:
        if self._outage is None:
            self._outage = self.clock()
            state = f"serving the last copy (revision {self.revision})" if self.synced else "nothing loaded yet"
            log.warn("etcd unreachable ({why}); {state}, retrying", why=why, state=state)
        self.reconnects += 1
        self._endpoint += 1
        delay, self._retry = self._retry, min(self._retry * 2, RETRY_MAX)
        self._pending_retry = self.timers.callLater(delay, self._reconnect)

    # -- freshness ----------------------------------------------------------------
    def fresh(self) -> bool:
        """Read, connected, and confirmed current within ``stale_after``."""
        if not self.synced or self._outage is not None:
            return False
        return not self.stale_after or self.clock() - self.last_fresh <= self.stale_after

    def age(self) -> float:
        """Seconds since something last confirmed the copy current (-1 before the first read)."""
        return self.clock() - self.last_fresh if self.last_fresh else -1.0

    def _check(self) -> None:
        """Every quarter of ``stale_after``: ask the watch's own stream how far it is (a progress
        request: the answer proves the path to the member alive) and the member whether it has a
        leader; reconnect elsewhere when nothing has confirmed the copy for ``stale_after``."""
        if not self._running or self._outage is not None or self._client is None:
            return  # not connected yet, or reconnecting already
        silent = self.clock() - self.last_fresh
        if silent > self.stale_after:
            why = "its member has no leader" if self._leaderless else f"nothing from its member for {silent:.1f}s"
            self._stalled(why)
            return
        if self._watch is not None:
            self._watch.request_progress()
        if self._probing:
            return
        self._probing = True
        gen = self._generation
        d = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), self._probe, self._client)
        d.addCallbacks(self._probed, lambda f: None, callbackArgs=(gen,))
        d.addBoth(self._probe_done)

    def _probe(self, client) -> int:
        """In a thread: the member's view of the leader (0: none, its data may fall behind)."""
        from pyetcd import etcdrpc

        resp = client.maintenancestub.Status(etcdrpc.StatusRequest(), max(self.stale_after / 2, 0.5),
                                             credentials=client.call_credentials, metadata=client.metadata)
        return resp.leader

    def _probed(self, leader: int, gen: int) -> None:
        if gen == self._generation:
            self._leaderless = not leader  # while so, progress answers confirm nothing

    def _probe_done(self, _result) -> None:
        self._probing = False

    def _stalled(self, why: str) -> None:
        """The copy may be behind etcd without any error saying so: drop this member, try the next."""
        self.stalls += 1
        log.warn("etcd copy of {prefix} may be stale: {why}; reconnecting to another member",
                 prefix=self.prefix, why=why)
        self._generation += 1  # what the old watch still sends is ignored
        self._let_go()
        self._broken(why)

    def _let_go(self) -> None:
        """Cancel the watch and close the client (in a thread: both may block)."""
        watch, client = self._watch, self._client
        self._watch = self._client = None
        if watch is not None or client is not None:
            threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), _close,
                                      watch.cancel if watch is not None else None, client)

    def _reconnect(self) -> None:
        self._pending_retry = None
        if self._running:
            self._connect()

    # -- watching -------------------------------------------------------------
    def _watched(self, response: Events | Progress | Exception, gen) -> None:
        """In the reactor: events, an answer to a progress request, or the error that ended the watch."""
        if gen != self._generation or not self._running:
            return
        if isinstance(response, Progress):
            if not self._leaderless:
                self.last_fresh = self.clock()
            return
        if isinstance(response, Exception):
            import pyetcd.exceptions

            self._generation += 1
            if isinstance(response, pyetcd.exceptions.RevisionCompactedError):
                # The old index keeps answering until the new one is swapped in by _opened.
                log.warn("etcd revision {rev} was compacted; reading {prefix} again",
                         rev=self.revision + 1, prefix=self.prefix)
                self._connect(full_read=True)
                return
            self._broken(_describe(response))
            return
        for event in response.events:
            self._apply(event)
        rev = response.header.revision
        if rev > self.revision:
            self.revision = rev
        self.last_event = self.last_fresh = self.clock()

    def _member(self, raw_key: bytes) -> str | None:
        """The scanner id of a ``PREFIX/scanners/<id>`` key, or None for a status key."""
        rest = raw_key.decode("utf-8", "replace")[len(self.prefix) + 1:]
        return rest[len(MEMBERS) + 1:] if rest.startswith(MEMBERS + "/") else None

    def _status(self, raw_key: bytes, value) -> tuple[str, bool]:
        ip = raw_key.decode("utf-8", "replace")[len(self.prefix) + 1:]
        if value is None:
            return ip, False
        try:
            data = json.loads(value)
            return ip, isinstance(data, dict) and str(data.get("status", "")).upper() == "DOWN"
        except ValueError:
            return ip, False

    def _apply(self, event) -> None:
        if self.status:
            deleted = type(event).__name__ == "DeleteEvent"
            member = self._member(event.key)
            if member is not None:
                if deleted:
                    self.members.pop(member, None)
                else:
                    self.members[member] = event.value
                for hear in list(self.member_listeners):
                    hear()
                return
            ip, is_down = self._status(event.key, None if deleted else event.value)
            was = ip in self.down
            (self.down.add if is_down else self.down.discard)(ip)
            if was != is_down:
                log.info("monitored address {ip} is {state}", ip=ip, state="DOWN" if is_down else "UP")
                for fn in self.listeners:
                    fn(None)
            return
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
        for fn in self.listeners:
            fn(name)

    # -- leases ---------------------------------------------------------------
    def _fetch_all_leases(self) -> None:
        """After a full read: learn every lease's remaining time, in one background job."""
        ids = set()
        stack = [self.index.root]
        while stack:
            n = stack.pop()
            if n.service is not None and n.service.lease:
                ids.add(n.service.lease)
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

        threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), fetch_all).addCallbacks(
            got, lambda f: None)

    def _fetch_lease(self, lease_id: int, lease: Lease) -> None:
        if lease.fetching or self._client is None:
            return
        lease.fetching = True
        client = self._client
        d = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), client.get_lease_info, lease_id)

        def got(info):
            lease.fetching = False
            lease.granted = int(info.grantedTTL)
            lease.remaining = max(int(info.TTL), 0)
            lease.at = self.clock()

        def failed(f):
            lease.fetching = False

        d.addCallbacks(got, failed)


def _describe(error) -> str:
    details = getattr(error, "details", None)
    if callable(details):
        try:
            return f"{type(error).__name__}: {details()}"
        except Exception:
            pass
    return f"{type(error).__name__}: {error}"


def _close(cancel, client) -> None:
    try:
        if cancel is not None:
            cancel()
    except Exception:
        pass
    try:
        if client is not None:
            client.close()
    except Exception:
        pass
