"""forward: send queries for its zones to upstream servers and relay their answers.

The query is forwarded as the client sent it (its OPT record included) with
a fresh random ID; the answer is relayed as bytes with the client's ID put
back, so no dnspython parsing happens on this path. Upstreams are tried in
the policy's order, skipping those marked down (unless all are); a timeout or
error (or an answer whose RCODE is listed in ``failover``) moves to the next,
for at most ``max_connect_attempts`` tries; a truncated UDP answer is asked
again over TCP; when every try has failed, or the time is up, the client gets
SERVFAIL. An answer whose RCODE is listed in ``next`` goes on to the next
``forward`` line of the block instead.

UDP queries of a block that forwards everything (``forward . ...`` first in the
chain, no name rules) take the raw relay instead (:mod:`.relay`): bytes in, bytes
out, as dnsdist does; what goes wrong there is finished here.
"""
from __future__ import annotations

import itertools
import random
import struct

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from skydns.clients.nameservers import InflightLimit, healthy_first
from skydns.clients.pools import StreamPool, UDPPool
from skydns.clients.portpool import PortPool
from skydns.interfaces import ICoreDNSMetrics, IHandler, IMetrics, IRawForwarder
from skydns.plugin.forward import express
from skydns.plugin.forward.relay import Relay
from skydns.query import wire
from skydns.query.chain import next_or_failure
from skydns.query.rcode import NOERROR, REFUSED, SERVFAIL
from skydns.query.zones import in_zones

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


@implementer(IHandler, IMetrics, IRawForwarder, ICoreDNSMetrics)
class Forward:
    name = "forward"

    def __init__(self, cfg, client, health, reactor, next=None, server: str = "", block=None):
        self.cfg = cfg
        self.client = client
        self.health = health
        self.reactor = reactor
        self.policy = Policy(cfg.policy)
        self.upstreams = cfg.upstreams
        self.limit = InflightLimit(cfg.max_concurrent or 0)
        self.next = next
        self.server = server  # the block's name, for metric labels
        #: an answer with one of these RCODEs goes to the next forward line (only a forward: CoreDNS's rule)
        self.pass_on = cfg.next_rcodes if isinstance(next, Forward) else frozenset()
        self.pass_on_nodata = cfg.next_on_nodata and isinstance(next, Forward)
        self.rejected = 0  # REFUSED at max_concurrent
        self.all_down = 0  # queries sent while every upstream was marked down
        self.block = block
        self.relay = Relay(self)
        #: with ``expire`` (and no ``max_age``) a UDP query of the raw path takes an express lane, else the relay
        self.lanes: express.Lanes | None = None
        if cfg.expire and not cfg.max_age and self.raw_forward_ready() \
                and all(isinstance(up.pools.get("udp"), UDPPool) for up in self.upstreams):
            self.lanes = express.Lanes(self)
        self.raw_forward = self.lanes.offer if self.lanes is not None else self.relay.take

    def raw_lane(self, handle, delivery):
        """The express lanes' door for a listener whose only block this forward serves bare (IRawForwarder),
        or None without lanes."""
        return self.lanes.door(handle, delivery) if self.lanes is not None else None

    def raw_forward_ready(self) -> bool:
        """The raw relay serves this forward when every UDP query may go out unread (IRawForwarder)."""
        cfg = self.cfg
        return (cfg.zone == "." and not cfg.excepts and not cfg.no_rec and not cfg.ndots and not cfg.force_tcp
                and not cfg.failover_rcodes and not self.pass_on and not self.pass_on_nodata
                and all(up.proto == "dns" for up in self.upstreams))

    @property
    def raw_streams(self) -> bool:
        """Queries of TCP, TLS and HTTPS clients take the raw relay too (over UDP) with ``prefer_udp``;
        without it they go to the upstream over TCP, as CoreDNS sends them: the normal path."""
        return self.cfg.prefer_udp

    def retry(self, request, failed, tcp: bool, started: float):
        """Finish a query the relay could not: the other upstreams after ``failed`` (or ``failed`` again
        over TCP, for a truncated answer), within the deadline counted from ``started``."""
        cfg = self.cfg
        order = self.policy.order(self.upstreams)
        if tcp:
            order = [failed] + [u for u in order if u is not failed]
            attempts = cfg.max_connect_attempts
        else:
            order = [u for u in order if u is not failed] + [failed]
            attempts = cfg.max_connect_attempts - 1 if cfg.max_connect_attempts else 0
            if cfg.max_connect_attempts == 1:
                return defer.succeed(wire.error_reply(request, SERVFAIL))
        tries = itertools.islice(itertools.cycle(order), attempts) if attempts else itertools.cycle(order)
        return self.limit.track(self._try(request, tries, "tcp" if tcp else "udp", started + cfg.deadline, None))

    def collect(self, prefix: str):
        """Queries, failures and health of each upstream (IMetrics)."""
        labels = ["server", "to"]
        sent = CounterMetricFamily(prefix + "forward_requests", "Queries sent to an upstream.", labels=labels)
        failed = CounterMetricFamily(prefix + "forward_failures", "Failed queries to an upstream.", labels=labels)
        healthy = GaugeMetricFamily(prefix + "forward_healthy", "1 if the upstream is up, 0 if marked down.",
                                    labels=labels)
        opened = CounterMetricFamily(prefix + "forward_connections_opened", "Shared sockets or connections opened "
                                     "to an upstream (expire, TCP, TLS, HTTPS).", labels=["server", "to", "proto"])
        open_now = GaugeMetricFamily(prefix + "forward_connections_open", "1 while the shared socket or connection "
                                     "is open.", labels=["server", "to", "proto"])
        pending = GaugeMetricFamily(prefix + "forward_pending", "Queries waiting for an answer on the shared socket "
                                    "or connection.", labels=["server", "to", "proto"])
        for up in self.upstreams:
            to = f"{up.proto}://{up.name}"
            values = [self.server, to]
            sent.add_metric(values, up.requests)
            failed.add_metric(values, up.failures)
            healthy.add_metric(values, 0 if up.down else 1)
            for proto, pool in up.pools.items():
                opened.add_metric([self.server, to, proto], pool.opened)
                if isinstance(pool, (UDPPool, StreamPool, PortPool)):  # DoH's connections are Twisted's
                    open_now.add_metric([self.server, to, proto], 1 if pool.is_open else 0)
                    pending.add_metric([self.server, to, proto], len(pool.pending) + len(getattr(pool, "relayed", ())))
        inflight = GaugeMetricFamily(prefix + "forward_inflight", "Queries out to the upstreams now.",
                                     labels=["server"])
        inflight.add_metric([self.server], self.limit.count)
        return (sent, failed, healthy, opened, open_now, pending, inflight)

    def collect_coredns(self):
        """CoreDNS's forward metrics (ICoreDNSMetrics); ``to`` is the upstream's address as CoreDNS writes it."""
        sent = CounterMetricFamily("coredns_forward_requests", "Counter of requests made per upstream.",
                                   labels=["to"])
        failed = CounterMetricFamily("coredns_proxy_healthcheck_failures", "Count of failed health checks.",
                                     labels=["proxy_name", "to", "rcode"])
        broken = CounterMetricFamily("coredns_forward_healthcheck_broken",
                                     "Counter of the number of complete failures of the healthchecks.")
        rejects = CounterMetricFamily("coredns_forward_max_concurrent_rejects",
                                      "Counter of the number of queries rejected because the concurrent "
                                      "queries were at maximum.")
        for up in self.upstreams:
            to = up.name if up.proto == "dns" else f"{up.proto}://{up.name}"
            sent.add_metric([to], up.requests)
            failed.add_metric(["forward", to, ""], up.failures)
        broken.add_metric([], self.all_down)
        rejects.add_metric([], self.rejected)
        return (sent, failed, broken, rejects)

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
            self.rejected += 1
            return wire.error_reply(request, REFUSED)
        order = self.policy.order(self.upstreams)
        if order[0].down:
            self.all_down += 1
            if cfg.failfast:
                return wire.error_reply(request, SERVFAIL)  # every upstream is down (healthy_first)
        if request.proto == "tcp":
            proto = "udp" if cfg.prefer_udp else "tcp"
        else:
            proto = "tcp" if cfg.force_tcp else "udp"
        attempts = cfg.max_connect_attempts
        tries = itertools.islice(itertools.cycle(order), attempts) if attempts else itertools.cycle(order)
        deadline = self.reactor.seconds() + cfg.deadline
        d = self._try(request, tries, proto, deadline, None)
        if self.pass_on or self.pass_on_nodata:
            d.addCallback(self._maybe_next, request)
        return self.limit.track(d)

    @property
    def inflight(self) -> int:
        return self.limit.count

    def _try(self, request, tries, proto, deadline, last):
        """The next try; ``last``: the answer of the previous try that ``failover`` moved on from."""
        left = deadline - self.reactor.seconds()
        up = next(tries, None) if left > 0 else None
        if up is None:
            return defer.succeed(self._reply(last, request) if last is not None
                                 else wire.error_reply(request, SERVFAIL))
        up.requests += 1
        use = up.proto if up.proto != "dns" else proto
        d = self.client.query(request.wire, up.host, up.port, use, min(self.cfg.timeout, left), up.tls,
                              up.pools.get(use), up.source)

        def answered(data):
            if use == "udp" and data[2] & 0x02:  # TC: ask the same upstream over TCP
                return self.client.query(request.wire, up.host, up.port, "tcp",
                                         max(min(self.cfg.timeout, deadline - self.reactor.seconds()), 0.1),
                                         pool=up.pools.get("tcp"), source=up.source)
            return data

        def good(data):
            self.health.ok(up)
            if data[3] & 0x0F in self.cfg.failover_rcodes:
                return self._try(request, tries, proto, deadline, data)
            return self._reply(data, request)

        def bad(failure):
            self.health.failed(up)
            log.debug("{up}: {why}", up=up.name, why=failure.getErrorMessage())
            return self._try(request, tries, proto, deadline, last)

        return d.addCallback(answered).addCallbacks(good, bad)

    @staticmethod
    def _reply(data: bytes, request) -> bytes:
        # The client's ID, and its CD bit (RFC 6840 5.9), whatever the upstream echoed.
        flags2 = (data[3] & 0xEF) | (request.flags & wire.CD)
        return struct.pack("!HB", request.id, data[2]) + bytes((flags2,)) + data[4:]

    def _maybe_next(self, data, request):
        rcode = data[3] & 0x0F
        if rcode in self.pass_on or (self.pass_on_nodata and rcode == NOERROR and data[6:8] == b"\x00\x00"):
            return self.next.serve(request)
        return data

    def stop(self):
        if self.lanes is not None:
            self.lanes.stop()
        self.relay.stop()
        self.health.stop(self.upstreams)
