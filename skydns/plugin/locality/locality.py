"""locality: answers with the healthy instances nearest the client, spilling farther when too few are left.

For A, AAAA and SRV queries of names a record source serves, the answer the rest of the
chain made (the cache's, whole) is narrowed to the services of the client's location;
when fewer than ``minimum`` of them are there (DOWN ones are already out: the source
leaves them out), the next nearest locations are added, tier by tier (:mod:`.where`).
An answer whose services carry no location, or a client no network places, is left whole.
The handler sits in front of the cache (kept whole, for everyone) and behind loadbalance
(which then picks among the near ones).
"""
from __future__ import annotations

import dns.edns
import dns.rdatatype
from prometheus_client.core import CounterMetricFamily
from zope.interface import implementer

from skydns.interfaces import IHandler, IMetrics, IRecordSource
from skydns.plugin.locality.where import FAR, distance, parse_ecs
from skydns.query import wire
from skydns.query.chain import next_or_failure, post_process
from skydns.query.zones import in_zones

A, AAAA, SRV = dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.SRV


@implementer(IHandler, IMetrics)
class Locality:
    name = "locality"

    def __init__(self, networks, minimum: int, use_ecs: bool, next=None, server: str = ""):
        self.networks = networks  # where.NetworkMap
        self.minimum = minimum
        self.use_ecs = use_ecs
        self.next = next
        self.server = server
        self.sources: list = []
        self.counts = {"near": 0, "spilled": 0, "whole": 0}

    def attach(self, block) -> None:
        self.sources = block.find(IRecordSource)

    def serve(self, request):
        if request.qtype not in (A, AAAA, SRV):
            return next_or_failure(self.name, self.next, request)
        source = next((s for s in self.sources if in_zones(request.qname, s.zones)), None)
        if source is None:
            return next_or_failure(self.name, self.next, request)
        where, net, ecs = self._locate(request)
        result = next_or_failure(self.name, self.next, request)
        return post_process(result, lambda reply: self._near(reply, request, source, where, net, ecs))

    def _locate(self, request):
        """The client's location, the network that placed it, and its ECS option (parsed) if it sent one."""
        ecs = None
        if self.use_ecs and request.edns_options:
            data = wire.edns_option(request.edns_options, wire.OPTION_ECS)
            ecs = parse_ecs(data) if data is not None else None
        address = ecs[0] if ecs is not None else request.client[0]
        where, net = self.networks.locate(address)
        return where, net, ecs

    def _near(self, reply, request, source, where, net, ecs):
        if reply.rcode != 0:
            return reply.result
        svcs = [s for s in source.services(request.qname) or [] if s.kind]
        chosen = _choose(svcs, where, self.minimum) if where is not None else None
        if chosen is None or len(chosen) == len(svcs):
            self.counts["whole"] += 1
            return self._scoped(reply, ecs, None) if ecs is not None else reply.result
        msg = reply.message
        hosts = {s.host for s in chosen}
        names = {s.name for s in chosen} | hosts
        for rrset in msg.answer:
            if rrset.rdtype in (A, AAAA) and len(rrset) > 1:
                kept = [rd for rd in rrset if rd.address in hosts]
                if kept and len(kept) < len(rrset):
                    _keep(rrset, kept)
            elif rrset.rdtype == SRV:
                kept = [rd for rd in rrset if rd.target.to_text().lower() in names]
                if kept and len(kept) < len(rrset):
                    _keep(rrset, kept)
                    targets = {rd.target for rd in kept}
                    msg.additional = [r for r in msg.additional if r.name in targets or r.rdtype not in (A, AAAA)]
        self.counts["spilled" if any(distance(s.location, where) for s in chosen) else "near"] += 1
        return self._scoped(reply, ecs, net, msg) if ecs is not None else msg

    @staticmethod
    def _scoped(reply, ecs, net, msg=None):
        """The reply with the client's subnet option back, its scope the network that decided (RFC 7871 7.2.1)."""
        msg = msg if msg is not None else reply.message
        address, source_len, _family = ecs
        option = dns.edns.ECSOption(address, source_len, net.prefixlen if net is not None else 0)
        msg.use_edns(0, msg.ednsflags, msg.payload, options=[o for o in msg.options if o.otype != 8] + [option])
        return msg

    def collect(self, prefix: str):
        c = CounterMetricFamily(prefix + "locality_answers", "Answers by how far they reached: the client's location "
                                "alone, spilled to farther ones, or whole (nothing to choose).",
                                labels=["server", "reach"])
        for reach, n in self.counts.items():
            c.add_metric([self.server, reach], n)
        return (c,)


def _choose(svcs, where: str, minimum: int):
    """The services nearest ``where``: the nearest tier, and farther tiers while fewer than ``minimum``."""
    by_distance: dict[int, list] = {}
    for s in svcs:
        by_distance.setdefault(distance(s.location, where), []).append(s)
    if set(by_distance) == {FAR}:
        return None  # no location anywhere: nothing to choose by
    chosen: list = []
    for d in sorted(by_distance):
        chosen += by_distance[d]
        if len(chosen) >= minimum:
            break
    return chosen


def _keep(rrset, kept) -> None:
    ttl = rrset.ttl
    rrset.clear()
    for rd in kept:
        rrset.add(rd, ttl)
