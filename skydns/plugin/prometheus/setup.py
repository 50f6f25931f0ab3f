"""Corefile: ``prometheus [ADDRESS] { namespace NS; subsystem SUB }``.

ADDRESS defaults to ``localhost:9153`` (``$PROMETHEUS_PORT`` changes the port),
the path to ``/metrics`` (``$PROMETHEUS_PATH``). Metric names are
``NAMESPACE_SUBSYSTEM_...``: namespace from ``$PROMETHEUS_NAMESPACE`` (none by
default), subsystem from ``$PROMETHEUS_SUBSYSTEM`` (default ``skydns``), as
SkyDNS named them; the properties override both.
"""
from __future__ import annotations

import os
import re

from prometheus_client.twisted import MetricsResource
from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.listen.httpserver import address_argument, shared_listener
from skydns.plugin.prometheus.metrics import Recorder

_METRIC_WORD = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


@implementer(IPluginSetup)
class PrometheusSetup:
    name = "prometheus"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "prometheus 127.0.0.1:${http_port}"

    def parse(self, d, block):
        d.next()
        host, port = address_argument(d, "localhost", int(os.environ.get("PROMETHEUS_PORT") or 9153))
        namespace = os.environ.get("PROMETHEUS_NAMESPACE", "")
        subsystem = os.environ.get("PROMETHEUS_SUBSYSTEM", "skydns")
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if prop not in ("namespace", "subsystem"):
                raise d.unknown_property(("namespace", "subsystem"))
            d.expect_args(vals, 0, 1)
            value = vals[0] if vals else ""
            if value and not _METRIC_WORD.match(value):
                raise d.error(f"{prop} '{value}' is not a valid metric name part")
            if prop == "namespace":
                namespace = value
            else:
                subsystem = value
        if d.next():
            raise d.once_error()
        path = os.environ.get("PROMETHEUS_PATH", "/metrics")
        return host, port, namespace, subsystem, path, (d.token.file, d.token.line)

    def build(self, cfg, block, next):
        host, port, namespace, subsystem, path, where = cfg
        recorder = block.acquire(("prometheus", namespace, subsystem),
                                 lambda: Recorder(namespace, subsystem, block.service), lambda r: None)
        listener = shared_listener(block, host, port, where)
        listener.mount(path, MetricsResource(recorder.registry))
        # Not a link of the chain: the server hands every reply the block sends to the recorder.
        transports = {k.transport for k in block.keys}
        by_transport = {t: " ".join(k.text for k in block.keys if k.transport == t) for t in transports}
        block.observe(self.name, recorder.observer(block.name, by_transport if len(transports) > 1 else None))
        return None


setup = PrometheusSetup()
