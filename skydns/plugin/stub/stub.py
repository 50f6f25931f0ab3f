"""stub: send queries for stub zones to their nameservers, before any local record.

The nameservers come from the block's record source (the etcd plugin) and
follow its changes. Queries sent
to them carry SkyDNS's EDNS0 option (code 65011): a SkyDNS at the other end
that gets a marked query for one of *its* stub zones drops it instead of
forwarding it again, so two instances pointing at each other cannot loop.
"""
from __future__ import annotations

from typing import Any

import dns.edns
import dns.message
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from skydns.clients.nameservers import InflightLimit, Nameserver, healthy_first
from skydns.interfaces import IHandler, IMetrics
from skydns.msg import path
from skydns.query import wire
from skydns.query.chain import next_or_failure
from skydns.query.rcode import REFUSED, SERVFAIL
from skydns.query.zones import in_zones

log = Logger(namespace="skydns.plugin.stub")

#: SkyDNS's private EDNS0 option marking a stub query (EDNS0LOCALSTART + 10).
STUB_OPTION = 65011


def marked(options: bytes) -> bool:
    """Does a raw OPT rdata carry the stub mark?"""
    pos = 0
    while pos + 4 <= len(options):
        code = options[pos] << 8 | options[pos + 1]
        size = options[pos + 2] << 8 | options[pos + 3]
        if code == STUB_OPTION:
            return True
        pos += 4 + size
    return False


@implementer(IHandler, IMetrics)
class Stub:
    name = "stub"

    def __init__(self, zones: list[str], client, next=None, timeout: float = 2.0, health=None,
                 max_inflight: int = 0, server: str = ""):
        self.zones = zones
        self.client = client
        self.timeout = timeout
        self.next = next
        self.source: Any = None  # the block's IRecordSource
        self.stubs: dict[str, list[Nameserver]] = {}
        #: every nameserver seen, kept across rebuilds so that its health state lasts
        self.nameservers: dict[tuple[str, int], Nameserver] = {}
        self.health = health  # nameservers.Health: a silent one is skipped while it stays silent
        self.limit = InflightLimit(max_inflight)  # 0: no cap
        self.dirty = True
        self.dropped = 0
        self.server = server  # the block's name, for metric labels

    def collect(self, prefix: str):
        """Queries dropped as loops, and the nameservers of the stub zones and their health (IMetrics)."""
        dropped = CounterMetricFamily(prefix + "stub_dropped", "Stub queries dropped: they would loop.",
                                      labels=["server"])
        dropped.add_metric([self.server], self.dropped)
        healthy = GaugeMetricFamily(prefix + "stub_nameserver_healthy", "1 if a stub zone's nameserver is up.",
                                    labels=["server", "to"])
        for (host, port), ns in sorted(self.nameservers.items()):
            healthy.add_metric([self.server, f"{host}:{port}"], 0 if ns.down else 1)
        return (dropped, healthy)

    # -- the stub zones, from the record source ----------------------------------
    def attach(self, source) -> None:
        self.source = source
        if not self.zones:
            self.zones = list(source.zones)
        source.subscribe(self._changed)
        self.dirty = True

    def detach(self) -> None:
        if self.source is not None:
            self.source.unsubscribe(self._changed)
        if self.health is not None:
            self.health.stop(self.nameservers.values())

    def _changed(self, name) -> None:
        if name is None or ".stub.dns." in name or name.startswith("stub.dns."):
            self.dirty = True

    def _rebuild(self) -> None:
        stubs: dict[str, list[Nameserver]] = {}
        for zone in self.zones:
            base = "stub.dns." + (zone if zone != "." else "")
            depth = len(path.name_labels(base))
            for svc in self.source.services(base) or ():
                labels = path.name_labels(svc.name)
                if len(labels) < depth + 2 or svc.kind not in ("A", "AAAA"):
                    continue  # a stub zone needs at least one label, plus the leaf; hosts are addresses
                stub_zone = path.labels_to_name(labels[depth:-1])
                where = (svc.host, svc.port or 53)
                ns = self.nameservers.get(where)
                if ns is None:
                    ns = self.nameservers[where] = Nameserver(*where)
                stubs.setdefault(stub_zone, []).append(ns)
        self.stubs = stubs
        self.dirty = False

    # -- serving --------------------------------------------------------------
    def serve(self, request):
        if self.source is None:
            return next_or_failure(self.name, self.next, request)
        if self.dirty:
            self._rebuild()
        zone = in_zones(request.qname, self.stubs) if self.stubs else None
        if zone is None:
            return next_or_failure(self.name, self.next, request)
        if request.edns_options and marked(request.edns_options):
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.warn("dropped a stub query for {qname} from {client} that another server already "
                         "forwarded ({count} so far): it would loop", qname=request.qname,
                         client=request.client[0], count=self.dropped)
            return None
        if self.limit.full():
            return wire.error_reply(request, REFUSED)
        query = dns.message.from_wire(request.wire, keyring=False)
        options = [o for o in query.options if o.otype != STUB_OPTION]
        options.append(dns.edns.GenericOption(dns.edns.OptionType.make(STUB_OPTION), b"\x01"))
        payload = query.payload if query.edns >= 0 else wire.OUR_PAYLOAD
        query.use_edns(0, query.ednsflags if query.edns >= 0 else 0, payload, options=options)
        return self.limit.track(self._ask(request, query.to_wire(), healthy_first(self.stubs[zone]), 0))

    def _ask(self, request, out: bytes, servers: list[Nameserver], i: int):
        if i >= len(servers):
            return defer.succeed(wire.error_reply(request, SERVFAIL))
        ns = servers[i]
        ns.requests += 1
        d = self.client.query(out, ns.host, ns.port, "udp", self.timeout)

        def answered(data):
            if data[2] & 0x02:
                return self.client.query(out, ns.host, ns.port, "tcp", self.timeout)
            return data

        def good(data):
            if self.health is not None:
                self.health.ok(ns)
            return self._relay(data, request)

        def failed(f):
            if self.health is not None:
                self.health.failed(ns)
            log.debug("stub server {ns}: {why}", ns=ns.name, why=f.getErrorMessage())
            return self._ask(request, out, servers, i + 1)

        return d.addCallback(answered).addCallbacks(good, failed)

    def _relay(self, data: bytes, request):
        reply = dns.message.from_wire(data, keyring=False)
        reply.id = request.id
        if request.edns < 0:
            reply.use_edns(False)
        else:
            reply.use_edns(0, reply.ednsflags, wire.OUR_PAYLOAD,
                           options=[o for o in reply.options if o.otype != STUB_OPTION])
        return reply
