"""forward: send queries for its zones to upstream servers and relay their answers.

The query is forwarded as the client sent it (its OPT record included) with
a fresh random ID; the answer is relayed as bytes with the client's ID put
back, so no dnspython parsing happens on this path. Upstreams are tried in
the policy's order, skipping those marked down (unless all are); a timeout or
error moves to the next; a truncated UDP answer is asked again over TCP; when
every try has failed, or the time is up, the client gets SERVFAIL.
"""
from __future__ import annotations

import random
import struct

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from skydns import wire
from skydns.chain import next_or_failure
from skydns.interfaces import IHandler, IMetrics
from skydns.nameservers import InflightLimit, healthy_first
from skydns.rcode import REFUSED, SERVFAIL
from skydns.zones import in_zones

log = Logger(namespace="skydns.plugin.forward")


class Policy:
    """The order in which upstreams are tried."""

    def __init__(self, name: str):
        self.name = name
        self.next = 0

    def order(self, upstreams: list) -> list:
        if self.name == "random":
            out = list(upstreams)
            random.shuffle(out)
        elif self.name == "round_robin":
            i = self.next % len(upstreams)
            self.next += 1
            out = upstreams[i:] + upstreams[:i]
        else:
            out = list(upstreams)
        return healthy_first(out)  # all down: try them anyway


@implementer(IHandler, IMetrics)
class Forward:
    name = "forward"

    def __init__(self, cfg, client, health, reactor, next=None, server: str = ""):
        self.cfg = cfg
        self.client = client
        self.health = health
        self.reactor = reactor
        self.policy = Policy(cfg.policy)
        self.upstreams = cfg.upstreams
        self.limit = InflightLimit(cfg.max_concurrent or 0)
        self.next = next
        self.server = server  # the block's name, for metric labels

    def collect(self, prefix: str):
        """Queries, failures and health of each upstream (IMetrics)."""
        labels = ["server", "to"]
        sent = CounterMetricFamily(prefix + "forward_requests", "Queries sent to an upstream.", labels=labels)
        failed = CounterMetricFamily(prefix + "forward_failures", "Failed queries to an upstream.", labels=labels)
        healthy = GaugeMetricFamily(prefix + "forward_healthy", "1 if the upstream is up, 0 if marked down.",
                                    labels=labels)
        for up in self.upstreams:
            values = [self.server, f"{up.proto}://{up.name}"]
            sent.add_metric(values, up.requests)
            failed.add_metric(values, up.failures)
            healthy.add_metric(values, 0 if up.down else 1)
        return (sent, failed, healthy)

    def _ours(self, qname: str) -> bool:
        if in_zones(qname, [self.cfg.zone]) is None:
            return False
        return not self.cfg.excepts or in_zones(qname, self.cfg.excepts) is None

    def serve(self, request):
        if not self._ours(request.qname):
            return next_or_failure(self.name, self.next, request)
        cfg = self.cfg
        if cfg.no_rec:
            return wire.error_reply(request, SERVFAIL)
        if cfg.ndots and request.qname.count(".") < cfg.ndots:
            return wire.error_reply(request, SERVFAIL)
        if self.limit.full():
            return wire.error_reply(request, REFUSED)
        if request.proto == "tcp":
            proto = "udp" if cfg.prefer_udp else "tcp"
        else:
            proto = "tcp" if cfg.force_tcp else "udp"
        deadline = self.reactor.seconds() + cfg.deadline
        return self.limit.track(self._try(request, self.policy.order(self.upstreams), 0, proto, deadline))

    @property
    def inflight(self) -> int:
        return self.limit.count

    def _try(self, request, order, i, proto, deadline):
        left = deadline - self.reactor.seconds()
        if i >= len(order) or left <= 0:
            return defer.succeed(wire.error_reply(request, SERVFAIL))
        up = order[i]
        up.requests += 1
        use = "tls" if up.proto == "tls" else proto
        d = self.client.query(request.wire, up.host, up.port, use, min(self.cfg.timeout, left), up.tls,
                              up.pools.get(use))

        def answered(data):
            if use == "udp" and data[2] & 0x02:  # TC: ask the same upstream over TCP
                return self.client.query(request.wire, up.host, up.port, "tcp",
                                         max(min(self.cfg.timeout, deadline - self.reactor.seconds()), 0.1),
                                         pool=up.pools.get("tcp"))
            return data

        def good(data):
            self.health.ok(up)
            # The client's ID, and its CD bit (RFC 6840 5.9), whatever the upstream echoed.
            flags2 = (data[3] & 0xEF) | (request.flags & wire.CD)
            return struct.pack("!HB", request.id, data[2]) + bytes((flags2,)) + data[4:]

        def bad(failure):
            self.health.failed(up)
            log.debug("{up}: {why}", up=up.name, why=failure.getErrorMessage())
            return self._try(request, order, i + 1, proto, deadline)

        return d.addCallback(answered).addCallbacks(good, bad)

    def stop(self):
        self.health.stop(self.upstreams)
