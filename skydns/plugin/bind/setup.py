"""Corefile: ``bind ADDRESS|IFACE... [{ except ADDRESS... }]`` (CoreDNS's syntax).

Sets the addresses a server block listens on; without it a block listens on
every address. An interface name stands for every address it has.
"""
from __future__ import annotations

import ipaddress

from zope.interface import implementer

from skydns.interfaces import IListenerSetup
from skydns.plugin.bind.interfaces import interface_addresses


@implementer(IListenerSetup)
class BindSetup:
    name = "bind"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "bind 127.0.0.1"

    def parse(self, d, block):
        wanted: list[str] = []
        excluded: set[str] = set()
        while d.next():
            for arg in d.args(1, None):
                wanted.extend(self._addresses(d, arg))
            for _ in d.block():
                if d.val != "except":
                    raise d.unknown_property(("except",))
                for arg in d.args(1, None):
                    excluded.update(self._addresses(d, arg))
        result = []
        for a in wanted:
            if a not in excluded and a not in result:
                result.append(a)
        if not result:
            raise d.error("no address left to listen on after 'except'")
        return result

    def configure(self, config, settings):
        settings.bind = list(config)

    def _addresses(self, d, arg: str) -> list[str]:
        try:
            return [str(ipaddress.ip_address(arg.strip("[]")))]
        except ValueError:
            pass
        found = interface_addresses(arg)
        if found is None:
            raise d.error(f"'{arg}' is neither an IP address nor a network interface")
        if not found:
            raise d.error(f"interface '{arg}' has no addresses")
        return found

    def build(self, config, block, next):
        return None


setup = BindSetup()
