"""The cache's metrics: its own families and CoreDNS's, read from a Cache's counters."""
from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


def families(cache, prefix: str):
    """The cache's own families (IMetrics), labelled with the server block."""
    server = cache.block_name
    miss = CounterMetricFamily(prefix + "dns_cachemiss_count", "Count of cache misses.",
                               labels=["server", "cache"])
    miss.add_metric([server, "response"], cache.misses)
    hits = CounterMetricFamily(prefix + "cache_hits", "Replies answered from the cache.", labels=["server"])
    hits.add_metric([server], cache.hits)
    size = GaugeMetricFamily(prefix + "cache_entries", "Replies held by the cache.", labels=["server", "type"])
    size.add_metric([server, "success"], len(cache.positive))
    size.add_metric([server, "denial"], len(cache.negative))
    memory = GaugeMetricFamily(prefix + "cache_memory_bytes", "Bytes counted against the cache's max_memory.",
                               labels=["server"])
    memory.add_metric([server], cache.memory)
    evicted = CounterMetricFamily(prefix + "cache_evictions", "Entries dropped to stay within capacity or memory.",
                                  labels=["server"])
    evicted.add_metric([server], cache.evictions)
    raw = GaugeMetricFamily(prefix + "cache_raw_entries", "Query bytes the raw path answers before parsing.",
                            labels=["server"])
    raw.add_metric([server], len(cache.raw))
    refreshes = CounterMetricFamily(prefix + "cache_prefetch", "Replies fetched again in the background "
                                    "(prefetch, serve_stale).", labels=["server"])
    refreshes.add_metric([server], cache.refreshes)
    failures = CounterMetricFamily(prefix + "cache_refresh_failures", "Background fetches without a usable "
                                   "reply.", labels=["server"])
    failures.add_metric([server], cache.refresh_failures)
    stale = CounterMetricFamily(prefix + "cache_served_stale", "Expired replies served (serve_stale).",
                                labels=["server"])
    stale.add_metric([server], cache.stale)
    refused = CounterMetricFamily(prefix + "cache_not_admitted", "Replies not kept: the cache was full and "
                                  "their key had not missed before (the doorkeeper).", labels=["server"])
    refused.add_metric([server], cache.refused)
    return (miss, hits, size, memory, evicted, raw, refreshes, failures, stale, refused)

def coredns_families(cache):
    """CoreDNS's cache families (ICoreDNSMetrics), with its labels."""
    labels = [cache.block_name, " ".join(cache.cfg.zones), ""]
    entries = GaugeMetricFamily("coredns_cache_entries", "The number of elements in the cache.",
                                labels=["server", "type", "zones", "view"])
    entries.add_metric([labels[0], "success", labels[1], ""], len(cache.positive))
    entries.add_metric([labels[0], "denial", labels[1], ""], len(cache.negative))
    hits = CounterMetricFamily("coredns_cache_hits", "The count of cache hits.",
                               labels=["server", "type", "zones", "view"])
    hits.add_metric([labels[0], "success", labels[1], ""], cache.hits - cache.denial_hits)
    hits.add_metric([labels[0], "denial", labels[1], ""], cache.denial_hits)
    misses = CounterMetricFamily("coredns_cache_misses", "The count of cache misses.",
                                 labels=["server", "zones", "view"])
    misses.add_metric(labels, cache.misses)
    requests = CounterMetricFamily("coredns_cache_requests", "The count of cache requests.",
                                   labels=["server", "zones", "view"])
    requests.add_metric(labels, cache.hits + cache.misses)
    return (entries, hits, misses, requests)
