"""cache: answer repeated queries from stored replies, on the wire, without dnspython.

A hit costs a dict lookup and a patch of the stored bytes (ID, RD/CD, the
question's letter case, TTLs counted down); the plugins in front of the
cache (log, prometheus, errors) see it like any reply. Misses go down the
chain; the reply is rendered once, stored, and sent as those bytes.

Replies built from a record source (the etcd plugin) are dropped the moment
the source changes a name they depend on: the source reports every name it
looked at to build a reply in ``request.dependencies`` (the query name, CNAME
targets, SRV targets, the apex...), the cache indexes the reply under them,
and a change to a name drops the replies indexed under that name or any of
its ancestors (subdomain aggregation), and those of wildcard lookups that
could match it.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from twisted.logger import Logger
from zope.interface import implementer

from skydns.interfaces import ICoreDNSMetrics, IMetrics, IRawKeeper
from skydns.msg import path
from skydns.plugin.cache import metrics
from skydns.plugin.cache.item import Item
from skydns.plugin.cache.refresh import Refreshing
from skydns.query import wire
from skydns.query.chain import next_or_failure, post_process
from skydns.query.dnsutil import bounded_ttl
from skydns.query.rcode import NOERROR, NXDOMAIN, SERVFAIL
from skydns.query.request import MalformedQuery, Request
from skydns.query.zones import has_wildcard, in_zones, wildcard_matches

log = Logger(namespace="skydns.plugin.cache")


@dataclass
class Policy:
    capacity: int = 9984
    max_ttl: int = 3600
    min_ttl: int = 5
    disabled: list = field(default_factory=list)  # zones; ["."] for all


#: Memory the kept replies may take, counted in bytes (replies, the query bytes of the raw path and
#: ITEM_OVERHEAD for each): enough for the default 2 x 9,984 entries of ordinary replies.
DEFAULT_MAX_MEMORY = 32 << 20
#: What an entry costs beyond its bytes (its Item, key tuple, index entries), roughly.
ITEM_OVERHEAD = 400
#: Queries longer than this are not put on the raw path (EDNS padding, big options): they are
#: answered from the cache all the same, by their name, type and flags.
RAW_MAX_QUERY = 512
#: Keys remembered as having missed once while the cache was full (the doorkeeper: see Cache._admit).
DOOR_MAX = 20_000


@dataclass
class CacheConfig:
    zones: list = field(default_factory=list)
    success: Policy = field(default_factory=Policy)
    denial: Policy = field(default_factory=lambda: Policy(max_ttl=1800))
    prefetch: int = 0
    prefetch_window: float = 60.0
    prefetch_pct: int = 10
    serve_stale: float = 0.0
    stale_mode: str = "immediate"
    stale_ttl: int = 0  # the TTL of stale replies (CoreDNS's RESPONSE_TTL; RFC 8767 recommends 30)
    verify_timeout: float = 0.0  # verify: serve the stale reply after this long (0: wait for the upstream)
    failure_recheck: float = 0.0  # after a failed refresh, serve stale without asking for this long
    prefer_positive: bool = False  # serve_stale_policy prefer_positive
    servfail: float = 5.0
    keepttl: bool = False
    max_memory: int = DEFAULT_MAX_MEMORY


#: The client of a request the cache reads for itself (raw_keep): none.
_NOBODY = ("0.0.0.0", 0)


def _key(request) -> tuple:
    """What a reply is kept under: the name (lower case), type, class, DO, CD, EDNS or not, and the
    EDNS Client Subnet option (an answer made for one subnet is kept for that subnet only)."""
    return (request.qname, request.qtype, request.qclass, request.do, request.flags & wire.CD, request.edns >= 0,
            wire.edns_option(request.edns_options, wire.OPTION_ECS) if request.edns_options else None)


@implementer(IRawKeeper, IMetrics, ICoreDNSMetrics)
class Cache(Refreshing):
    name = "cache"

    def __init__(self, cfg: CacheConfig, reactor, next=None):
        self.cfg = cfg
        #: what tells the time (IReactorTime): the reactor; tests give a task.Clock
        self.clock = reactor
        self.next = next
        self.positive: dict = {}
        self.negative: dict = {}
        self.by_name: dict[str, set] = {}
        self.wild: dict[tuple, tuple] = {}  # key -> wildcard name labels
        self.hits = 0
        self.denial_hits = 0  # of those, negative replies (CoreDNS's hits{type="denial"})
        self.misses = 0
        self.memory = 0  # bytes counted against cfg.max_memory
        self.evictions = 0
        self.refreshes = 0  # prefetches and stale refreshes started (CoreDNS's prefetch count)
        self.refresh_failures = 0  # of those, ended without a usable reply
        self.stale = 0  # expired replies served (serve_stale)
        self.sources: list = []  # the data followed (IChangeFeed: record sources and others)
        self.block_name = ""  # the server block, for metric labels
        #: query bytes after the ID -> Item, for the server's raw path (only used when the cache is
        #: the first link of its chain: nothing in front of it needs to see the query)
        self.raw: dict[bytes, Item] = {}
        #: the same keys -> the request first answered, when the block has reply observers
        #: (the raw path hands them a copy of it: see Request.repeat)
        self.raw_requests: dict[bytes, object] = {}
        self.raw_ok = not cfg.prefetch and not cfg.serve_stale
        self.block = None  # set by attach: the block whose replies raw_keep keeps
        #: keys that missed once while the cache was full: kept on their second miss (see _admit)
        self.door: dict = {}
        #: replies not kept for want of room and of a second miss
        self.refused = 0
        #: True when the cache serves every zone its block routes to it (the default): no zone check
        self.every_zone = "." in cfg.zones

    # -- serving --------------------------------------------------------------
    def serve(self, request):
        if not self.every_zone and in_zones(request.qname, self.cfg.zones) is None:
            return next_or_failure(self.name, self.next, request)
        key = _key(request)
        item = self.positive.get(key) or self.negative.get(key)
        if item is not None:
            now = self.clock.seconds()
            age = int(now - item.stored)
            if age < item.ttl:
                self.hits += 1
                if item.negative:
                    self.denial_hits += 1
                if self.cfg.prefetch and not item.negative:
                    self._maybe_prefetch(item, request, now, age)
                return item.render(request, age, self.cfg.keepttl)
            if self.cfg.serve_stale and age < item.ttl + self.cfg.serve_stale:
                self.hits += 1
                if self.cfg.stale_mode == "immediate" or now < item.failed_until:
                    self._refresh(item, request)
                    return self._stale(item, request)
                return self._verify(item, request, age)
            self._drop(key)
        self.misses += 1
        request.dependencies = []
        result = next_or_failure(self.name, self.next, request)
        return post_process(result, lambda reply: self._store(reply, request, key))

    def _store(self, reply, request, key):
        """Render and keep a reply worth keeping; send the rendered bytes either way."""
        data = reply.wire
        return self._kept(data, request, key, self._admit(key, data))

    def raw_keep_ready(self) -> bool:
        """The forward relay behind may hand its answers here (IRawKeeper): the cache serves every zone
        and keeps answers plainly (no prefetch, no serve_stale)."""
        return self.raw_ok and self.every_zone

    def raw_missing(self, query: bytes, request=None) -> bool:
        """Nothing kept for ``query`` under its key (IRawKeeper): the relay behind may take it. A kept
        answer under another spelling (letter case, options) sends it the normal way, to be answered here."""
        if request is None:
            try:
                request = Request(query, _NOBODY, "udp")
            except MalformedQuery:
                return False
        if request.flags & wire.OPCODE_MASK or request.edns > 0:
            return False
        key = _key(request)
        return key not in self.positive and key not in self.negative

    def raw_keep(self, query: bytes, answer: bytes) -> bytes | None:
        """An answer the forward relay behind got for ``query`` (IRawKeeper): kept as if the chain had
        answered, when worth it; the bytes to send (TTLs capped at the cache's maximum), or None."""
        self.misses += 1
        admitted = self._admit(query[2:], answer)
        cfg = self.cfg
        if not admitted and not cfg.success.disabled and not cfg.denial.disabled:
            return self._kept(answer, None, None, False)  # not kept: its TTLs capped, the query left unread
        try:
            request = Request(query, _NOBODY, "udp")
        except MalformedQuery:
            return None
        request.dependencies = []
        request.block, request.zone = self.block, "."  # the observers of later raw hits see its block
        return self._kept(answer, request, _key(request), admitted)

    def _kept(self, data: bytes, request, key, keep: bool = True) -> bytes:
        """The bytes to send for ``data`` (TTLs capped at the cache's maximum), kept for ``key`` when
        ``keep`` and its rcode and TTLs say it may be."""
        try:
            scan = wire.scan(data)
        except Exception:
            return data
        ttl, negative = self._lifetime(scan, request.qname if request is not None else "")
        if keep and negative and self.cfg.prefer_positive and key in self.positive:
            # serve_stale_policy prefer_positive: the last good answer is kept (and served while it may be)
            return data
        if ttl > 0:
            if not self.cfg.keepttl and any(t > ttl for t in scan.ttls):
                data = _cap_ttls(data, scan, ttl)
            if keep:
                self._keep(key, data, scan, ttl, negative, request)
        return data

    def _admit(self, key, data: bytes) -> bool:
        """Is a reply for ``key`` worth keeping? Always while its store has room; once it is full (a
        store at capacity, or the memory at ``max_memory``), only for a key that missed before
        (TinyLFU's doorkeeper): a flood of names asked once each (random names, a water-torture
        attack) then neither evicts the answers in use nor costs a store and an eviction per query."""
        if len(data) < 12:
            return True
        rcode = data[3] & 0x0F
        negative = rcode != NOERROR or not (data[6] or data[7])
        cfg = self.cfg
        store = self.negative if negative else self.positive
        if len(store) < (cfg.denial if negative else cfg.success).capacity \
                and self.memory + len(data) + ITEM_OVERHEAD <= cfg.max_memory:
            return True
        door = self.door
        if key in door:
            del door[key]
            return True
        if len(door) >= DOOR_MAX:
            door.clear()
        door[key] = None
        self.refused += 1
        return False

    def _lifetime(self, scan, qname) -> tuple[int, bool]:
        if scan.truncated:
            return 0, False
        if scan.rcode == SERVFAIL:  # briefly, unless it may only say that a source is not read yet
            if any(not s.synced for s in self.sources):
                return 0, True
            return int(self.cfg.servfail), True
        if scan.rcode == NOERROR and scan.answers:
            p = self.cfg.success
            if p.disabled and in_zones(qname, p.disabled):
                return 0, False
            ttl = scan.min_ttl if scan.min_ttl is not None else p.min_ttl
            return bounded_ttl(ttl, p.min_ttl, p.max_ttl), False
        if scan.rcode in (NOERROR, NXDOMAIN):
            p = self.cfg.denial
            if p.disabled and in_zones(qname, p.disabled):
                return 0, True
            ttl = scan.soa_min if scan.soa_min is not None else p.min_ttl
            return bounded_ttl(ttl, p.min_ttl, p.max_ttl), True
        return 0, False

    def _keep(self, key, data, scan, ttl, negative, request) -> None:
        store = self.negative if negative else self.positive
        cap = (self.cfg.denial if negative else self.cfg.success).capacity
        self._drop(key)  # kept before (in either store): replaced
        while len(store) >= cap:
            self._drop(next(iter(store)))
            self.evictions += 1
        names = set(request.dependencies or ())
        names.add(request.qname)
        item = Item(data, tuple(scan.ttl_offsets), tuple(scan.ttls), self.clock.seconds(), ttl,
                    len(request.question_wire), key, tuple(names), negative)
        store[key] = item
        self.memory += len(data) + ITEM_OVERHEAD
        self._raw_add(item, request, data)
        while self.memory > self.cfg.max_memory and (self.positive or self.negative):
            self._drop(self._oldest())
            self.evictions += 1
        for n in names:
            if has_wildcard(n):
                self.wild[key] = tuple(path.name_labels(n))
            else:
                self.by_name.setdefault(n, set()).add(key)

    def _raw_add(self, item: Item, request, data: bytes) -> None:
        """Put these query bytes on the raw path, if they are worth it and within bounds."""
        if not self.raw_ok or len(data) > wire.MIN_PAYLOAD or request.hops:
            return
        if len(request.wire) > RAW_MAX_QUERY:
            return
        raw = request.wire[2:]
        if raw in self.raw:
            return
        self.raw[raw] = item
        item.raw.append(raw)
        self.memory += len(raw)
        if request.block is not None and request.block.observed:
            self.raw_requests[raw] = request

    def _oldest(self):
        """The key kept longest, of either kind."""
        pos = next(iter(self.positive.values()), None)
        neg = next(iter(self.negative.values()), None)
        if pos is None or (neg is not None and neg.stored < pos.stored):
            return neg.key  # type: ignore[union-attr]
        return pos.key

    def _drop(self, key) -> None:
        item = self.positive.pop(key, None) or self.negative.pop(key, None)
        if item is None:
            return
        self.memory -= len(item.data) + ITEM_OVERHEAD
        self.wild.pop(key, None)
        for raw in item.raw:
            self.raw.pop(raw, None)
            self.raw_requests.pop(raw, None)
            self.memory -= len(raw)
        for n in item.names:
            keys = self.by_name.get(n)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self.by_name[n]

    # -- invalidation ---------------------------------------------------------
    def invalidate(self, name: str | None) -> None:
        """etcd changed ``name`` (None: everything): drop every reply that may show it."""
        if name is None:
            self.clear()
            return
        labels = path.name_labels(name)
        for depth in range(len(labels), -1, -1):
            ancestor = path.labels_to_name(labels[:depth])
            for key in list(self.by_name.get(ancestor, ())):
                self._drop(key)
        for key, pattern in list(self.wild.items()):
            if wildcard_matches(pattern, labels):
                self._drop(key)

    # -- the raw path (IRawAnswerer) -------------------------------------------------
    def raw_answer(self, query: bytes):
        """A fresh reply kept for query bytes identical to ``query`` but for the ID, else None."""
        item = self.raw.get(query[2:])
        if item is None:
            return None
        age = int(self.clock.seconds() - item.stored)
        if age >= item.ttl:
            return None
        self.hits += 1
        if item.negative:
            self.denial_hits += 1
        return item.render_raw(query, age, self.cfg.keepttl)

    def raw_request(self, query: bytes):
        """The request first answered with these query bytes (kept when the block has observers)."""
        return self.raw_requests.get(query[2:])

    def clear(self) -> None:
        self.memory = 0
        self.door.clear()
        self.raw.clear()
        self.raw_requests.clear()
        self.positive.clear()
        self.negative.clear()
        self.by_name.clear()
        self.wild.clear()

    def follow(self, sources) -> None:
        """The record sources whose changes invalidate replies (found when the chain is built)."""
        self.sources = list(sources)

    def attach(self, block) -> None:
        """Start following the sources' changes (a startup hook), and forget what was kept before:
        it may have been answered before they were read."""
        self.every_zone = "." in self.cfg.zones or set(block.zones) <= set(self.cfg.zones)
        self.block = block
        for source in self.sources:
            source.subscribe(self.invalidate)  # a monitor change says None: drop all
        self.clear()

    def detach(self) -> None:
        for source in self.sources:
            source.unsubscribe(self.invalidate)

    def collect(self, prefix: str):
        """Hits, misses, entries, memory and background fetches (IMetrics), labelled with the server block."""
        return metrics.families(self, prefix)

    def collect_coredns(self):
        """CoreDNS's cache metrics (ICoreDNSMetrics)."""
        return metrics.coredns_families(self)

    def size(self) -> int:
        return len(self.positive) + len(self.negative)


def _cap_ttls(data: bytes, scan, ttl: int) -> bytes:
    """The reply with no TTL above ``ttl``, the time it is kept (CoreDNS's cache does the same to the reply
    it stores and the one it sends): ``cache 30`` never hands out a TTL above 30. ``scan`` follows."""
    buf = bytearray(data)
    ttls = []
    for off, t in zip(scan.ttl_offsets, scan.ttls, strict=False):
        if t > ttl:
            struct.pack_into("!I", buf, off, ttl)
            t = ttl
        ttls.append(t)
    scan.ttls = ttls
    return bytes(buf)

