"""Corefile: ``locality { network CIDR LOCATION; minimum N; ecs on|off }``.

::

    locality {
        network 10.1.0.0/16 eu-west/a       # clients in this network are in eu-west/a (repeatable)
        network 2001:db8:1::/48 eu-west/b
        minimum 2                           # default 1: spill farther while fewer healthy instances are near
        ecs off                             # default on: a resolver's client subnet option places its client
    }

Services say where they run with ``"location": "eu-west/a"``.
"""
from __future__ import annotations

import ipaddress
import re

from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.plugin.locality.locality import Locality
from skydns.plugin.locality.where import NetworkMap

PROPERTIES = ("network", "minimum", "ecs")
_LOCATION = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*\Z")


@implementer(IPluginSetup)
class LocalitySetup:
    name = "locality"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "locality {\n    network 127.0.0.0/8 here\n}"

    def parse(self, d, block):
        d.next()
        d.args(0)
        networks: list[tuple[str, str]] = []
        minimum, ecs = 1, True
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if prop == "network":
                d.expect_args(vals, 2)
                try:
                    ipaddress.ip_network(vals[0], strict=False)
                except ValueError as e:
                    raise d.error(f"network {vals[0]!r} is not a network (CIDR)") from e
                if not _LOCATION.match(vals[1]) or len(vals[1]) > 128:
                    raise d.error(f"location {vals[1]!r}: names separated by '/' (region/zone)")
                networks.append((vals[0], vals[1]))
            elif prop == "minimum":
                d.expect_args(vals, 1)
                minimum = d.int_value(vals[0], 1, 1000, "minimum")
            elif prop == "ecs":
                d.expect_args(vals, 1)
                if vals[0] not in ("on", "off"):
                    raise d.error("ecs is on or off")
                ecs = vals[0] == "on"
            else:
                raise d.unknown_property(PROPERTIES)
        if d.next():
            raise d.once_error()
        if not networks:
            raise d.error("locality needs at least one 'network CIDR LOCATION'")
        return NetworkMap(networks), minimum, ecs

    def build(self, cfg, block, next):
        networks, minimum, ecs = cfg
        handler = Locality(networks, minimum, ecs, next, server=block.name)
        block.on_startup(lambda: handler.attach(block))
        return handler


setup = LocalitySetup()
