"""acl: allow, block, filter or drop queries by source address and query type (as CoreDNS's acl).

Each ``acl`` directive is a policy for its zones, with rules tried in order:
the first rule whose types and networks match the query decides. ``block``
answers REFUSED, ``filter`` an empty NOERROR, ``drop`` nothing at all, and
``allow`` lets the query on and stops the checks. A query no rule matches
goes on to the next policy, and past the last one, down the chain. Replies to
queries with EDNS carry an extended error (RFC 8914): Blocked or Filtered.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily
from zope.interface import implementer

from skydns.interfaces import IHandler, IMetrics
from skydns.query import wire
from skydns.query.chain import next_or_failure
from skydns.query.rcode import NOERROR, REFUSED
from skydns.query.zones import in_zones

ACTIONS = ("allow", "block", "filter", "drop")


@dataclass(frozen=True)
class Rule:
    action: str
    qtypes: frozenset | None  # None: every type
    nets: tuple | None  # ip_network objects; None: every source


@dataclass(frozen=True)
class Policy:
    zones: list[str]
    rules: list[Rule]


@implementer(IHandler, IMetrics)
class ACL:
    name = "acl"

    #: Client addresses parsed so far (bounded: forgotten all at once when full).
    ADDRESSES_MAX = 10000

    def __init__(self, policies: list[Policy], next=None, server: str = ""):
        self.policies = policies
        self.next = next
        self.server = server  # the block's name, for metric labels
        self.counts = dict.fromkeys(ACTIONS, 0)  # decisions made, for metrics
        self._addresses: dict = {}

    def _address(self, host: str):
        addr = self._addresses.get(host)
        if addr is None:
            if len(self._addresses) >= self.ADDRESSES_MAX:
                self._addresses.clear()
            addr = self._addresses[host] = ipaddress.ip_address(host.partition("%")[0])
        return addr

    def decide(self, request) -> str | None:
        """The action of the first matching rule, or None when no rule matches."""
        for policy in self.policies:
            if in_zones(request.qname, policy.zones) is None:
                continue
            for rule in policy.rules:
                if rule.qtypes is not None and request.qtype not in rule.qtypes:
                    continue
                if rule.nets is not None:
                    addr = self._address(request.client[0])
                    if not any(addr.version == n.version and addr in n for n in rule.nets):
                        continue
                return rule.action
        return None

    def serve(self, request):
        action = self.decide(request)
        if action is None or action == "allow":
            if action is not None:
                self.counts["allow"] += 1
            return next_or_failure(self.name, self.next, request)
        self.counts[action] += 1
        if action == "drop":
            return None
        if action == "block":
            return wire.error_reply(request, REFUSED, wire.ede_option(wire.EDE_BLOCKED))
        return wire.error_reply(request, NOERROR, wire.ede_option(wire.EDE_FILTERED))

    def collect(self, prefix: str):
        """Decisions made, by action (IMetrics)."""
        family = CounterMetricFamily(prefix + "acl_requests", "Queries decided by an acl rule.",
                                     labels=["server", "action"])
        for action, n in self.counts.items():
            family.add_metric([self.server, action], n)
        return (family,)
