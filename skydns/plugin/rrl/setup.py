"""Corefile (the names of CoreDNS's external ``rrl`` plugin, the knobs of BIND's ``rate-limit``)::

    rrl [ZONES...] {
        responses-per-second N      answers with records, per client network, name and type
        nodata-per-second N         empty answers (default: responses-per-second)
        nxdomains-per-second N      NXDOMAIN, per client network and zone (default: responses-per-second)
        errors-per-second N         every other rcode, per client network (default: responses-per-second)
        window SECONDS              how long a flood is remembered (default 15)
        slip-ratio N                every N-th dropped reply sent truncated (default 2; 0 never, 1 always)
        ipv4-prefix-length N        client networks (default 24)
        ipv6-prefix-length N        (default 56)
        exempt NETWORK...           clients never limited
        max-table-size N            buckets kept (default 100000)
        report-only                 count, never drop
    }

Off unless configured. It limits every UDP reply of the block's listeners, on
every path (the chain, the cache's raw path, the forward relay); ZONES, when
given, must be the block's own or ``.``: a listener has one limiter.
"""
from __future__ import annotations

import ipaddress

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from zope.interface import implementer

from skydns.interfaces import IListenerSetup, IMetrics
from skydns.query.ratelimit import Limiter, RRLConfig

RATES = {"responses-per-second": "responses", "nodata-per-second": "nodata",
         "nxdomains-per-second": "nxdomains", "errors-per-second": "errors"}
PROPERTIES = tuple(RATES) + ("window", "slip-ratio", "slip", "ipv4-prefix-length", "ipv6-prefix-length",
                             "exempt", "max-table-size", "report-only")


@implementer(IListenerSetup)
class RRLSetup:
    name = "rrl"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "rrl {\n    responses-per-second 100\n}"

    def parse(self, d, block):
        d.next()
        zones = d.zones(d.remaining_args())
        stray = [z for z in zones if z != "." and z not in block.zones]
        if stray:
            raise d.error(f"rrl limits the whole listener: zone {stray[0]} is not one of this block's")
        values: dict = {}
        for _ in d.block():
            prop = d.val
            if prop not in PROPERTIES:
                raise d.unknown_property(PROPERTIES)
            if prop in RATES:
                values[RATES[prop]] = float(d.int_value(d.arg(), 0, 1_000_000, prop))
            elif prop == "window":
                values["window"] = float(d.int_value(d.arg(), 1, 3600, "window"))
            elif prop in ("slip-ratio", "slip"):
                values["slip"] = d.int_value(d.arg(), 0, 10, prop)
            elif prop == "ipv4-prefix-length":
                values["ipv4_prefix"] = d.int_value(d.arg(), 0, 32, prop)
            elif prop == "ipv6-prefix-length":
                values["ipv6_prefix"] = d.int_value(d.arg(), 0, 128, prop)
            elif prop == "max-table-size":
                values["max_table_size"] = d.int_value(d.arg(), 100, 10_000_000, prop)
            elif prop == "exempt":
                nets = d.remaining_args()
                if not nets:
                    raise d.error("exempt needs at least one address or network")
                values["exempt"] = values.get("exempt", ()) + tuple(self._net(d, n) for n in nets)
            else:
                d.args(0)
                values["report_only"] = True
        if d.next():
            raise d.once_error()
        config = RRLConfig(**values)
        if not any(config.rate(c) for c in RATES.values()):
            raise d.error("rrl needs a rate: responses-per-second N (or nodata-, nxdomains-, errors-per-second)")
        return config

    @staticmethod
    def _net(d, text: str):
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise d.error(f"'{text}' is not an IP address or CIDR network") from None

    def configure(self, config, settings):
        settings.rrl = Limiter(config)

    def build(self, config, block, next):
        block.provide(RRLMetrics(block.settings.rrl, block.name))
        return None


@implementer(IMetrics)
class RRLMetrics:
    """Replies the limiter dropped, slipped or (report-only) would have limited, by kind; its table's size."""

    def __init__(self, limiter: Limiter, server: str):
        self.limiter = limiter
        self.server = server

    def collect(self, prefix: str):
        limited = CounterMetricFamily(prefix + "rrl_responses_limited", "UDP replies limited by rrl.",
                                      labels=["server", "category", "action"])
        for (category, action), n in sorted(self.limiter.counts.items()):
            limited.add_metric([self.server, category, action], n)
        size = GaugeMetricFamily(prefix + "rrl_table_size", "Buckets rrl keeps.", labels=["server"])
        size.add_metric([self.server], self.limiter.size)
        return (limited, size)


setup = RRLSetup()
