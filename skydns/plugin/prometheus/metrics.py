"""Counting queries cheaply, exposing them (and every plugin's state) with prometheus-client.

On the hot path a reply is counted in plain dicts keyed by label tuples, a
few dict operations per query; ``prometheus_client`` label lookups and locks
would cost more than the whole budget. At scrape time a Collector turns the
dicts into metric families, and reads the live state of the running
configuration's plugins (etcd copies, forward upstreams, reloads).
"""
from __future__ import annotations

import bisect
import time
from bisect import bisect_left as _bisect
from time import monotonic as _now

import dns.rcode
import dns.rdatatype
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

#: CoreDNS's buckets: request duration (exponential from 0.25 ms) and response size.
DURATION_BUCKETS = tuple(0.00025 * 2 ** i for i in range(16))
SIZE_BUCKETS = (0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000)
#: Query types with their own label value; others are "other" (bounded cardinality, as CoreDNS).
TYPES = {t: dns.rdatatype.to_text(t) for t in (1, 2, 5, 6, 12, 15, 16, 28, 33, 35, 43, 48, 64, 65, 252, 255, 257)}


class Histogram:
    __slots__ = ("buckets", "counts", "sum", "count")

    def __init__(self, buckets):
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self):
        out, total = [], 0
        for b, c in zip(self.buckets, self.counts):
            total += c
            out.append((repr(float(b)), total))
        out.append(("+Inf", self.count))
        return out


#: Index of the size bucket of every possible reply size (a table lookup instead of a bisect).
SIZE_INDEX = bytes(bisect.bisect_left(SIZE_BUCKETS, n) for n in range(65536))


class Series:
    """Everything counted for one (server, zone, proto, family, type): one dict lookup per query.

    The two histograms count every request: the request count is their count.
    """

    __slots__ = ("rcodes", "dcounts", "dsum", "scounts", "ssum")

    def __init__(self):
        self.rcodes: dict[int, int] = {}
        self.dcounts = [0] * (len(DURATION_BUCKETS) + 1)
        self.dsum = 0.0
        self.scounts = [0] * (len(SIZE_BUCKETS) + 1)
        self.ssum = 0

    @property
    def requests(self) -> int:
        return sum(self.scounts)

    def histogram(self, buckets, counts, total) -> Histogram:
        h = Histogram(buckets)
        h.counts, h.sum, h.count = list(counts), total, sum(counts)
        return h


class Recorder:
    """Per-process query counts; shared by every block and kept across reloads."""

    def __init__(self, namespace: str, subsystem: str, service=None):
        self.prefix = "_".join(p for p in (namespace, subsystem) if p)
        self.service = service
        self.series: dict[tuple, Series] = {}
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(Collector(self))

    def observer(self, server: str):
        """The function that counts one reply of the block named ``server`` (a block observer)."""
        series = self.series

        def observe(req, reply: bytes, _now=_now, _bisect=_bisect, _durations=DURATION_BUCKETS,
                    _first=DURATION_BUCKETS[0], _sizes=SIZE_INDEX, _get=series.get) -> None:
            key = (server, req.zone, req.proto, ":" in req.client[0], req.qtype)
            s = _get(key)
            if s is None:
                s = series[key] = Series()
            rcode = reply[3] & 0x0F
            if rcode:
                s.rcodes[rcode] = s.rcodes.get(rcode, 0) + 1
            d = _now() - req.started
            # Most answers take less than the first bucket's 0.25 ms: a comparison, not a bisect.
            s.dcounts[0 if d <= _first else _bisect(_durations, d)] += 1
            s.dsum += d
            size = len(reply)
            s.scounts[_sizes[size] if size < 65536 else len(SIZE_BUCKETS)] += 1
            s.ssum += size
        return observe

    def grouped(self):
        """The series with their label values: (server, zone, proto, family, type), Series."""
        for (server, zone, proto, v6, qtype), s in list(self.series.items()):
            yield (server, zone or ".", proto, "2" if v6 else "1", TYPES.get(qtype, "other")), s


def _merge(into: dict, key, hist: Histogram) -> None:
    h = into.get(key)
    if h is None:
        h = into[key] = Histogram(hist.buckets)
    for i, c in enumerate(hist.counts):
        h.counts[i] += c
    h.sum += hist.sum
    h.count += hist.count


class Collector:
    """Builds the metric families at scrape time."""

    def __init__(self, recorder: Recorder):
        self.r = recorder

    def name(self, n: str) -> str:
        return f"{self.r.prefix}_{n}" if self.r.prefix else n

    def collect(self):
        requests: dict[tuple, int] = {}
        errors: dict[tuple, int] = {}
        durations: dict[tuple, Histogram] = {}
        sizes: dict[tuple, Histogram] = {}
        for labels, s in self.r.grouped():
            server, zone, proto, family, qtype = labels
            requests[labels] = requests.get(labels, 0) + s.requests
            for rcode, n in list(s.rcodes.items()):
                k = (server, zone, dns.rcode.to_text(rcode))
                errors[k] = errors.get(k, 0) + n
            _merge(durations, (server, zone, qtype), s.histogram(DURATION_BUCKETS, s.dcounts, s.dsum))
            _merge(sizes, (server, zone, proto), s.histogram(SIZE_BUCKETS, s.scounts, s.ssum))
        c = CounterMetricFamily(self.name("dns_request_count"), "Count of DNS requests made.",
                                labels=["server", "zone", "proto", "family", "type"])
        for k, v in requests.items():
            c.add_metric(list(k), v)
        yield c
        c = CounterMetricFamily(self.name("dns_error_count"), "Count of responses with an error rcode.",
                                labels=["server", "zone", "rcode"])
        for k, v in errors.items():
            c.add_metric(list(k), v)
        yield c
        h = HistogramMetricFamily(self.name("dns_request_duration_seconds"),
                                  "Time to answer a request, in seconds.", labels=["server", "zone", "type"])
        for k, hist in durations.items():
            h.add_metric(list(k), hist.cumulative(), hist.sum)
        yield h
        h = HistogramMetricFamily(self.name("dns_response_size_bytes"), "Size of the responses, in bytes.",
                                  labels=["server", "zone", "proto"])
        for k, hist in sizes.items():
            h.add_metric(list(k), hist.cumulative(), hist.sum)
        yield h
        yield from self.plugins()

    def plugins(self):
        svc = self.r.service
        miss = CounterMetricFamily(self.name("dns_cachemiss_count"), "Count of cache misses.",
                                   labels=["server", "cache"])
        chits = CounterMetricFamily(self.name("cache_hits"), "Replies answered from the cache.", labels=["server"])
        csize = GaugeMetricFamily(self.name("cache_entries"), "Replies held by the cache.", labels=["server", "type"])
        reloads = CounterMetricFamily(self.name("reload_count"), "Configuration reloads that took effect.")
        fails = CounterMetricFamily(self.name("reload_failed_count"), "Configuration reloads that were refused.")
        rev = GaugeMetricFamily(self.name("etcd_revision"), "etcd revision of the copy.", labels=["path"])
        count = GaugeMetricFamily(self.name("etcd_services"), "Services in the copy.", labels=["path"])
        recon = CounterMetricFamily(self.name("etcd_watch_reconnects"), "Reconnections of the etcd watch.",
                                    labels=["path"])
        age = GaugeMetricFamily(self.name("etcd_last_event_age_seconds"),
                                "Seconds since the copy last changed or was read.", labels=["path"])
        synced = GaugeMetricFamily(self.name("etcd_synced"), "1 once the copy has been read.", labels=["path"])
        freq = CounterMetricFamily(self.name("forward_requests"), "Queries sent to an upstream.",
                                   labels=["server", "to"])
        ffail = CounterMetricFamily(self.name("forward_failures"), "Failed queries to an upstream.",
                                    labels=["server", "to"])
        fhealthy = GaugeMetricFamily(self.name("forward_healthy"), "1 if the upstream is up, 0 if marked down.",
                                     labels=["server", "to"])
        smade = CounterMetricFamily(self.name("dnssec_signatures_made"), "RRSIGs computed (signature cache misses).",
                                    labels=["server", "zone"])
        shits = CounterMetricFamily(self.name("dnssec_cache_hits"), "RRSIGs taken from the signature cache.",
                                    labels=["server", "zone"])
        ssize = GaugeMetricFamily(self.name("dnssec_cache_entries"), "RRSIGs held by the signature cache.",
                                  labels=["server", "zone", "type"])
        acl = CounterMetricFamily(self.name("acl_requests"), "Queries decided by an acl rule.",
                                  labels=["server", "action"])
        if svc is not None:
            reloads.add_metric([], svc.reloads)
            fails.add_metric([], svc.reload_failures)
            gen = svc.generation
            copies = {}
            for b in (gen.blocks if gen is not None else []):
                for h in b.handlers.values():
                    if h.name == "cache":
                        miss.add_metric([b.name, "response"], h.misses)
                        chits.add_metric([b.name], h.hits)
                        csize.add_metric([b.name, "success"], len(h.positive))
                        csize.add_metric([b.name, "denial"], len(h.negative))
                    copy = getattr(h, "copy", None)
                    if copy is not None and h.name == "etcd":
                        copies[copy.prefix] = copy
                    if h.name == "forward":
                        for up in h.upstreams:
                            labels = [b.name, f"{up.proto}://{up.name}"]
                            freq.add_metric(labels, up.requests)
                            ffail.add_metric(labels, up.failures)
                            fhealthy.add_metric(labels, 0 if up.down else 1)
                    if h.name == "acl":
                        for action, n in h.counts.items():
                            acl.add_metric([b.name, action], n)
                    if h.name == "dnssec":
                        for zone, signer in h.signers.items():
                            smade.add_metric([b.name, zone], signer.made)
                            shits.add_metric([b.name, zone], signer.hits)
                            ssize.add_metric([b.name, zone, "signature"], len(signer.cache))
            now = time.monotonic()
            for prefix, copy in copies.items():
                rev.add_metric([prefix], copy.revision)
                count.add_metric([prefix], copy.index.count)
                recon.add_metric([prefix], copy.reconnects)
                age.add_metric([prefix], now - copy.last_event if copy.last_event else -1)
                synced.add_metric([prefix], 1 if copy.synced else 0)
        yield from (miss, chits, csize, reloads, fails, rev, count, recon, age, synced, freq, ffail, fhealthy,
                    smade, shits, ssize, acl)
