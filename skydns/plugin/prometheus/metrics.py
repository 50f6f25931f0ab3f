"""Counting queries cheaply, exposing them and every plugin's own metrics with prometheus-client.

On the hot path a reply is counted in plain dicts keyed by label tuples, a
few dict operations per query; ``prometheus_client`` label lookups and locks
would cost more than the whole budget. At scrape time a Collector turns the
dicts into metric families, adds the server's reload counts, and collects
every :class:`skydns.interfaces.IMetrics` provider of the running
configuration (cache, etcd, forward, acl, dnssec, third-party plugins):
they own their metrics, this plugin only serves them.
"""
from __future__ import annotations

import bisect
from bisect import bisect_left as _bisect
from time import monotonic as _now

import dns.rcode
import dns.rdatatype
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from twisted.logger import Logger

from skydns.interfaces import ICoreDNSMetrics, IMetrics

log = Logger(namespace="skydns.plugin.prometheus")

#: CoreDNS's buckets: request duration (exponential from 0.25 ms) and response size.
DURATION_BUCKETS = tuple(0.00025 * 2 ** i for i in range(16))
SIZE_BUCKETS = (0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000)
#: Query types with their own label value; others are "other" (bounded cardinality, as CoreDNS).
TYPES = {t: dns.rdatatype.to_text(dns.rdatatype.RdataType.make(t))
         for t in (1, 2, 5, 6, 12, 15, 16, 28, 33, 35, 43, 48, 64, 65, 252, 255, 257)}


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
        for b, c in zip(self.buckets, self.counts, strict=False):  # counts has one more: +Inf
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

    __slots__ = ("rcodes", "dcounts", "dsum", "scounts", "ssum", "qcounts", "qsum", "do")

    def __init__(self):
        self.rcodes: dict[int, int] = {}
        self.dcounts = [0] * (len(DURATION_BUCKETS) + 1)
        self.dsum = 0.0
        self.scounts = [0] * (len(SIZE_BUCKETS) + 1)
        self.ssum = 0
        self.qcounts = [0] * (len(SIZE_BUCKETS) + 1)  # request sizes (CoreDNS's request_size_bytes)
        self.qsum = 0
        self.do = 0  # requests with the DO bit

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

    def observer(self, server: str, by_transport: dict[str, str] | None = None):
        """The function that counts one reply of the block named ``server`` (a block observer).

        ``by_transport``: for a block whose keys have several transports (``.:53 tls://.:853``),
        the ``server`` label of each (its keys of that transport, ``tls://.:853``), so DNS over
        TLS and HTTPS show apart, as CoreDNS's per-listener ``server`` label does.
        """
        series = self.series

        def observe(req, reply: bytes, _now=_now, _bisect=_bisect, _durations=DURATION_BUCKETS,
                    _first=DURATION_BUCKETS[0], _sizes=SIZE_INDEX, _get=series.get) -> None:
            key = (by_transport[req.transport] if by_transport else server, req.zone, req.proto,
                   ":" in req.client[0], req.qtype)
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
            size = len(req.wire)
            s.qcounts[_sizes[size] if size < 65536 else len(SIZE_BUCKETS)] += 1
            s.qsum += size
            if req.do:
                s.do += 1
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
        yield from self.coredns(requests, durations, sizes)
        yield from self.plugins()

    def coredns(self, requests: dict, durations: dict, sizes: dict):
        """The same counts under CoreDNS's names and labels (``view`` empty: there are no views here)."""
        c = CounterMetricFamily("coredns_dns_requests", "Counter of DNS requests made per zone, protocol and "
                                "family.", labels=["server", "zone", "view", "proto", "family", "type"])
        for (server, zone, proto, family, qtype), v in requests.items():
            c.add_metric([server, zone, "", proto, family, qtype], v)
        yield c
        responses: dict[tuple, int] = {}
        request_sizes: dict[tuple, Histogram] = {}
        do: dict[tuple, int] = {}
        for (server, zone, proto, _family, _qtype), s in self.r.grouped():
            _merge(request_sizes, (server, zone, proto), s.histogram(SIZE_BUCKETS, s.qcounts, s.qsum))
            do[(server, zone)] = do.get((server, zone), 0) + s.do
            errors = 0
            for rcode, n in list(s.rcodes.items()):
                k = (server, zone, dns.rcode.to_text(rcode))
                responses[k] = responses.get(k, 0) + n
                errors += n
            k = (server, zone, "NOERROR")
            responses[k] = responses.get(k, 0) + s.requests - errors
        c = CounterMetricFamily("coredns_dns_responses", "Counter of response status codes.",
                                labels=["server", "zone", "view", "rcode", "plugin"])
        for (server, zone, rcode), v in responses.items():
            c.add_metric([server, zone, "", rcode, ""], v)
        yield c
        h = HistogramMetricFamily("coredns_dns_request_duration_seconds", "Histogram of the time (in seconds) "
                                  "each request took per zone.", labels=["server", "zone", "view", "type"])
        for (server, zone, qtype), hist in durations.items():
            h.add_metric([server, zone, "", qtype], hist.cumulative(), hist.sum)
        yield h
        h = HistogramMetricFamily("coredns_dns_response_size_bytes", "Size of the returned response in bytes.",
                                  labels=["server", "zone", "view", "proto"])
        for (server, zone, proto), hist in sizes.items():
            h.add_metric([server, zone, "", proto], hist.cumulative(), hist.sum)
        yield h
        h = HistogramMetricFamily("coredns_dns_request_size_bytes", "Size of the requests in bytes.",
                                  labels=["server", "zone", "view", "proto"])
        for (server, zone, proto), hist in request_sizes.items():
            h.add_metric([server, zone, "", proto], hist.cumulative(), hist.sum)
        yield h
        c = CounterMetricFamily("coredns_dns_do_requests", "Counter of DNS requests with DO bit set per zone.",
                                labels=["server", "zone", "view"])
        for (server, zone), v in do.items():
            c.add_metric([server, zone, ""], v)
        yield c
        from skydns import __version__

        g = GaugeMetricFamily("coredns_build_info", "A metric with a constant '1' value labeled by version, "
                              "revision, and goversion from which CoreDNS was built.",
                              labels=["version", "revision", "goversion"])
        g.add_metric([f"skydns-{__version__}", "", ""], 1)
        yield g
        svc = self.r.service
        if svc is None:
            return
        c = CounterMetricFamily("coredns_reload_failed", "Counter of the number of failed reload attempts.")
        c.add_metric([], svc.reload_failures)
        yield c
        g = GaugeMetricFamily("coredns_plugin_enabled", "A metric that indicates whether a plugin is enabled on "
                              "per server and zone basis.", labels=["server", "zone", "view", "name"])
        for b in svc.blocks():
            for zone in b.zones:
                for name in b.plugins:
                    g.add_metric([b.name, zone, "", name], 1)
        yield g
        yield from _merged(svc.find(ICoreDNSMetrics), lambda provider: provider.collect_coredns())

    def plugins(self):
        """The server's reload counts, then every IMetrics provider's families, merged by name."""
        svc = self.r.service
        prefix = self.r.prefix + "_" if self.r.prefix else ""
        reloads = CounterMetricFamily(self.name("reload_count"), "Configuration reloads that took effect.")
        fails = CounterMetricFamily(self.name("reload_failed_count"), "Configuration reloads that were refused.")
        if svc is None:
            yield from (reloads, fails)
            return
        reloads.add_metric([], svc.reloads)
        fails.add_metric([], svc.reload_failures)
        yield from (reloads, fails)
        yield from _merged(svc.find(IMetrics), lambda provider: provider.collect(prefix))


def _merged(found, collect):
    """The families of every provider in ``found`` (``(block, provider)``), those of one name merged: one
    provider per server block labels its own samples. A provider that fails is logged and left out."""
    merged: dict[str, object] = {}
    for _block, provider in found:
        try:
            families = list(collect(provider))
        except Exception:
            log.failure("metrics of {provider!r} failed", provider=provider)
            continue
        for family in families:
            seen = merged.get(family.name)
            if seen is None:
                merged[family.name] = family
            else:
                seen.samples.extend(family.samples)  # type: ignore[attr-defined]
    return merged.values()
