"""Reading /metrics as Prometheus would."""
from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def scrape(port, path="/metrics"):
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read().decode()
    samples = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def metric(srv, name, **labels) -> float:
    """The sum of a running server's ``name`` samples (every IMetrics provider's) that carry ``labels``:
    what a test reads of a plugin's state."""
    total = 0.0
    for (sample, *pairs), v in srv.metrics().items():
        if sample == name and all((k, str(want)) in pairs for k, want in labels.items()):
            total += v
    return total
