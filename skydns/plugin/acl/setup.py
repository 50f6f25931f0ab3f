"""Corefile (CoreDNS's syntax)::

    acl [ZONES...] {
        ACTION [type QTYPE...] [net SOURCE...]
    }

ACTION is allow, block, filter or drop; QTYPE a query type or ``*`` (every type,
the default); SOURCE an address or CIDR network, or ``*`` (every source, the
default). A block may hold several ``acl`` directives: they are tried in order.
"""
from __future__ import annotations

import ipaddress

import dns.rdatatype
from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.plugin.acl.acl import ACL, ACTIONS, Policy, Rule

SECTIONS = ("type", "net")


@implementer(IPluginSetup)
class ACLSetup:
    name = "acl"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "acl {\n    block net 198.51.100.0/24\n}"

    def parse(self, d, block):
        policies = []
        while d.next():
            zones = d.zones(d.remaining_args() or block.zones)
            rules = []
            for _ in d.block():
                action = d.val.lower()
                if action not in ACTIONS:
                    raise d.error(f"unknown action '{d.val}' (expected {', '.join(ACTIONS)})")
                rules.append(self._rule(d, action, d.remaining_args()))
            policies.append(Policy(zones, rules))
        return policies

    def _rule(self, d, action: str, tokens: list[str]) -> Rule:
        qtypes: set | None = None
        nets: list | None = None
        seen = set()
        i = 0
        while i < len(tokens):
            section = tokens[i].lower()
            if section not in SECTIONS:
                raise d.error(f"unexpected token '{tokens[i]}' (expected type or net)")
            if section in seen:
                raise d.error(f"'{section}' given twice in one rule")
            seen.add(section)
            j = i + 1
            while j < len(tokens) and tokens[j].lower() not in SECTIONS:
                j += 1
            values = tokens[i + 1:j]
            i = j
            if not values:
                raise d.error(f"no value after '{section}'")
            if section == "type":
                qtypes = None if "*" in values else {self._qtype(d, v) for v in values}
            else:
                nets = None if "*" in values else [self._net(d, v) for v in values]
        return Rule(action, frozenset(qtypes) if qtypes is not None else None,
                    tuple(nets) if nets is not None else None)

    @staticmethod
    def _qtype(d, text: str) -> int:
        try:
            return dns.rdatatype.from_text(text.upper())
        except Exception:
            raise d.error(f"'{text}' is not a query type") from None

    @staticmethod
    def _net(d, text: str):
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise d.error(f"'{text}' is not an IP address or CIDR network") from None

    def build(self, policies, block, next):
        return ACL(policies, next, server=block.name)


setup = ACLSetup()
