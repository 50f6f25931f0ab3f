"""A watched in-memory copy of an etcd prefix: the mechanism, whatever the keys mean.

One range read (in pages, all at the revision of the first page), then a
watch from the next revision: every put and delete, lease expiries included,
is applied in order in the reactor thread. Answering a query never waits on
etcd. Blocking client calls run in the reactor's thread pool.

When the watch breaks (etcd down, network), the copy keeps serving what it
has, logs one warning for the outage, and retries with back-off, moving to
the next endpoint each time. A watch that can resume resumes from the last
revision it applied; if that revision was compacted meanwhile, the prefix is
read again and the new state swapped in whole.

What the keys mean is a subclass's: :class:`~skydns.plugin.etcd.copy.RecordsCopy`
(services) and :class:`~skydns.plugin.etcd.monitor.MonitorCopy` (health status).
Two collaborators watch the connection: :class:`~.freshness.Freshness` (is the
member still current?) and :class:`~.members.Members` (SkyDNS's ``-discover``).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from twisted.internet import defer, threads
from twisted.logger import Logger

from skydns.clients.etcd.connection import Connection, explain
from skydns.clients.etcd.watch import Events, PrefixWatch, Progress, prefix_end
from skydns.plugin.etcd.freshness import STALE_AFTER, Freshness
from skydns.plugin.etcd.members import Members

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

__all__ = ["PrefixCopy", "STALE_AFTER", "RETRY_MIN", "RETRY_MAX"]


class PrefixCopy:
    """Everything under ``prefix``, kept current by a watch; subclasses give the keys their meaning.

    :ivar revision: the etcd revision the copy reflects.
    :ivar synced: True once the first read completed.
    :ivar listeners: ``fn(name or None)`` called after changes (see :meth:`_changed`).
    """

    #: what a log line calls the things of this copy ("services", "addresses down")
    things = "keys"

    def __init__(self, connection: Connection, prefix: str, reactor, clock=time.monotonic, timers=None,
                 stale_after: float = STALE_AFTER, discover: bool = False):
        """``reactor`` runs the blocking client in its threads; ``timers`` (an IReactorTime, the
        reactor by default: tests give a task.Clock) times the start wait and the reconnection
        back-off; ``clock`` reads the time; ``stale_after`` (0: never) see :class:`.Freshness`;
        ``discover``: the endpoints follow the cluster's member list (:class:`.Members`)."""
        self.connection = connection
        self.prefix = "/" + prefix.strip("/")
        self.reactor = reactor
        self.timers = timers if timers is not None else reactor
        self.clock = clock
        self.revision = 0
        self.synced = False
        self.listeners: list[Callable[[str | None], None]] = []
        self.reconnects = 0
        self.last_event = 0.0
        self.freshness = Freshness(self, stale_after)
        self.discovery = Members(self) if discover else None
        self._endpoint = 0
        self._client: Any = None
        self._watch: PrefixWatch | None = None
        self._running = False
        self._outage: float | None = None
        self._retry = RETRY_MIN
        self._pending_retry: Any = None
        self._first: defer.Deferred = defer.Deferred()
        self._generation = 0  # bumps on every (re)connection, to ignore stale watch callbacks
        #: queries waiting for the first read (see when_loaded); gave_up once the start wait passed
        self._waiting: dict[defer.Deferred, Any] = {}  # -> its QUERY_WAIT timer
        self.gave_up = False

    # -- what a subclass gives ------------------------------------------------------------------
    def _build(self, kvs: list):
        """In a thread: the state of a full read of ``kvs`` (etcd key-values at one revision)."""
        raise NotImplementedError

    def _install(self, state, revision: int) -> int:
        """In the reactor: make ``state`` (from :meth:`_build`) the copy's; return how many things it holds."""
        raise NotImplementedError

    def _apply(self, event) -> None:
        """In the reactor: one watch event (a put or a delete)."""
        raise NotImplementedError

    def _loaded(self) -> None:
        """In the reactor, after a full read was installed (the records copy learns its leases)."""

    def _changed(self, name: str | None) -> None:
        """Tell the listeners: ``name`` changed, or (None) anything may have."""
        for fn in list(self.listeners):
            fn(name)

    # -- life cycle -----------------------------------------------------------
    def start(self, wait: float = 5.0) -> defer.Deferred:
        """Begin reading; fires once the first read is done, or after ``wait`` seconds regardless."""
        if not self._running:
            self._running = True
            self._connect()
            if self.discovery is not None:
                self.discovery.start()
            self.freshness.start()
        if self.synced:
            return defer.succeed(self)
        d: defer.Deferred = defer.Deferred()

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
        if self._running:
            log.info("etcd copy of {prefix} stopped", prefix=self.prefix)
        self._release(False)
        self._running = False
        self.freshness.stop()
        if self.discovery is not None:
            self.discovery.stop()
        self._generation += 1
        if self._pending_retry is not None and self._pending_retry.active():
            self._pending_retry.cancel()
        self._let_go()

    # -- the connection, for the collaborators --------------------------------------------------
    @property
    def client(self):
        """The etcd client of the current connection, or None while (re)connecting."""
        return self._client

    @property
    def endpoint(self):
        """The endpoint connected to, or being tried, now."""
        return self.connection.endpoints[self._endpoint % len(self.connection.endpoints)]

    @property
    def attempt(self) -> int:
        """Counts connections (and reconnections): what a connection's callbacks compare to ignore
        what arrives from one left behind."""
        return self._generation

    @property
    def connected(self) -> bool:
        """Running, with a client, and no outage being ridden out."""
        return self._running and self._outage is None and self._client is not None

    def in_thread(self, fn, *args) -> defer.Deferred:
        """``fn(*args)`` in the reactor's thread pool (blocking client calls)."""
        return threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), fn, *args)

    def request_progress(self) -> None:
        """Ask the watch's own stream how far it is (the answer arrives as a Progress)."""
        if self._watch is not None:
            self._watch.request_progress()

    def use_endpoints(self, connection: Connection) -> None:
        """Connect to these endpoints from the next (re)connection on (the member list changed)."""
        self.connection = connection
        self._endpoint = 0

    def reconnect_elsewhere(self, why: str) -> None:
        """The member may be behind without any error saying so: drop it, try the next."""
        self._generation += 1  # what the old watch still sends is ignored
        self._let_go()
        self._broken(why)

    # -- reading --------------------------------------------------------------
    def _connect(self, full_read: bool = False) -> None:
        """Connect (in a thread) and watch; read everything first unless resuming a synced copy."""
        self._generation += 1
        gen = self._generation
        endpoint = self.endpoint
        resume = self.revision if self.synced and not full_read else None
        d = self.in_thread(self._open, endpoint, resume, gen)
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

    def _read(self, client):
        """In a thread: ``(state, revision)`` of the whole prefix at one revision, read in pages."""
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
        return self._build(kvs), revision

    def _opened(self, result, gen, endpoint) -> None:
        client, watch, loaded = result
        if gen != self._generation or not self._running:
            self.in_thread(_close, watch.cancel, client)
            return
        old = self._client
        self._client = client
        self._watch = watch
        if self.discovery is not None:
            self.reactor.callLater(0, self.discovery.rediscover)
        if old is not None and old is not client:
            self.in_thread(_close, None, old)
        if loaded is not None:
            state, revision = loaded
            resync = self.synced
            self.revision = revision
            count = self._install(state, revision)
            self.synced = True
            self.last_event = self.clock()
            log.info("etcd copy of {prefix} {what} from {endpoint}: {count} {things} at revision {rev}",
                     prefix=self.prefix, what="re-read" if resync else "loaded", endpoint=endpoint,
                     count=count, things=self.things, rev=revision)
            self._changed(None)  # everything may have changed
            self._release(True)
            self._loaded()
        if self._outage is not None:
            log.info("etcd reachable again at {endpoint} after {secs:.1f}s; watching from revision {rev}",
                     endpoint=endpoint, secs=self.clock() - self._outage, rev=self.revision + 1)
            self._outage = None
        self._retry = RETRY_MIN
        self.freshness.confirmed()
        if not self._first.called:
            self._first.callback(self)

    def _failed(self, failure, gen, endpoint) -> None:
        if gen != self._generation or not self._running:
            return
        self._broken(explain(failure.value, endpoint))

    def _broken(self, why: str) -> None:
        if self._outage is None:
            self._outage = self.clock()
            state = f"serving the last copy (revision {self.revision})" if self.synced else "nothing loaded yet"
            log.warn("etcd unreachable ({why}); {state}, retrying", why=why, state=state)
        self.reconnects += 1
        self._endpoint += 1
        delay, self._retry = self._retry, min(self._retry * 2, RETRY_MAX)
        self._pending_retry = self.timers.callLater(delay, self._reconnect)

    # -- freshness (see Freshness) --------------------------------------------------------------
    def fresh(self) -> bool:
        """Read, connected, and confirmed current within ``stale_after``."""
        return self.synced and self._outage is None and self.freshness.fresh()

    def age(self) -> float:
        """Seconds since something last confirmed the copy current (-1 before the first read)."""
        return self.freshness.age()

    def _let_go(self) -> None:
        """Cancel the watch and close the client (in a thread: both may block)."""
        watch, client = self._watch, self._client
        self._watch = self._client = None
        if watch is not None or client is not None:
            self.in_thread(_close, watch.cancel if watch is not None else None, client)

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
            self.freshness.progress()
            return
        if isinstance(response, Exception):
            import pyetcd.exceptions

            self._generation += 1
            if isinstance(response, pyetcd.exceptions.RevisionCompactedError):
                # The old state keeps answering until the new one is swapped in by _opened.
                log.warn("etcd revision {rev} was compacted; reading {prefix} again",
                         rev=self.revision + 1, prefix=self.prefix)
                self._connect(full_read=True)
                return
            endpoints = self.connection.endpoints
            self._broken(explain(response, endpoints[self._endpoint % len(endpoints)]))
            return
        for event in response.events:
            self._apply(event)
        rev = response.header.revision
        if rev > self.revision:
            self.revision = rev
        self.last_event = self.clock()
        self.freshness.confirmed()


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
