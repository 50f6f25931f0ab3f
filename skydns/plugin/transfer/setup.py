"""Corefile: ``transfer [ZONES...] { to ADDRESS...; max_transfers N }`` (CoreDNS's syntax).

ZONES default to the block's. ``to`` (repeatable) lists who may transfer: IP addresses
(``IP[:PORT]``, also NOTIFY targets), networks in CIDR notation, or ``*`` for anyone.
``max_transfers`` (skydns, default 10) caps transfers running at once. With a ``tsig``
directive in the block, signed requests get signed transfers (``tsig { require AXFR
IXFR }`` refuses unsigned ones).
"""
from __future__ import annotations

from zope.interface import implementer

from skydns.clients.dnsclient import Client
from skydns.interfaces import IPluginSetup, ITSIGKeys, IZoneSource
from skydns.plugin.transfer.transfer import Permit, Transfer, _host_port
from skydns.query.zones import in_zones


@implementer(IPluginSetup)
class TransferSetup:
    name = "transfer"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "transfer {\n    to *\n}"

    def parse(self, d, block):
        configs = []
        max_transfers = 10
        while d.next():
            zones = d.zones(d.remaining_args()) or list(block.zones)
            to: list[str] = []
            for _ in d.block():
                prop = d.val
                vals = d.remaining_args()
                if prop == "to":
                    d.expect_args(vals, 1, None)
                    for v in vals:
                        if v != "*":
                            try:
                                if "/" in v:
                                    import ipaddress

                                    ipaddress.ip_network(v, strict=False)
                                else:
                                    _host_port(v)
                            except ValueError as e:
                                raise d.error(f"to: '{v}' is not an address, ADDRESS:PORT, CIDR or *") from e
                    to.extend(vals)
                elif prop == "max_transfers":
                    d.expect_args(vals, 1)
                    max_transfers = d.int_value(vals[0], 1, 1000, "max_transfers")
                else:
                    raise d.unknown_property(("to", "max_transfers"))
            if not to:
                raise d.error("transfer needs 'to ADDRESS...' (or 'to *') in its block")
            for z in zones:
                if in_zones(z, block.zones) is None:
                    raise d.error(f"zone {z} is not served by this server block")
            configs.append((zones, to))
        return configs, max_transfers

    def build(self, cfg, block, next):
        configs, max_transfers = cfg
        sources = block.find(IZoneSource)
        zones: dict[str, Permit] = {}
        by_zone: dict = {}
        for zone_list, to in configs:
            for z in zone_list:
                source = next_source = None
                for s in sources:
                    if z in s.zones:
                        next_source = s
                        break
                source = next_source
                if source is None:
                    raise block.error(self.name, f"zone {z} has no zone data to transfer (transfer needs etcd "
                                      "serving exactly that zone)")
                zones[z] = Permit(to)
                by_zone[z] = source
        handler = Transfer(zones, by_zone, None, block.clock, Client(block.reactor), max_transfers, next,
                           server=block.name)

        def start():
            keys = block.find(ITSIGKeys)  # at start: the tsig directive is built after this one
            handler.keys = keys[0] if keys else None
            return handler.start()

        block.on_startup(start)
        block.on_shutdown(handler.stop)
        return handler


setup = TransferSetup()
