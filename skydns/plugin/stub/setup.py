"""Corefile: ``stub [ZONES...]``: stub zones from the etcd plugin of the same block.

Stub zones live in etcd under ``dns/stub`` of each ZONE (default: the etcd
plugin's zones): the service ``ns1.skydns.com.stub.dns.skydns.local`` (key
``/skydns/local/skydns/dns/stub/com/skydns/ns1``) with ``{"host": "172.16.1.1",
"port": 54}`` makes 172.16.1.1:54 a nameserver of ``skydns.com``.
"""
from __future__ import annotations

from zope.interface import implementer

from skydns.dnsclient import Client
from skydns.interfaces import IPluginSetup
from skydns.plugin.stub.stub import Stub


@implementer(IPluginSetup)
class StubSetup:
    name = "stub"
    position = None

    def parse(self, d, block):
        d.next()
        zones = d.zones(d.remaining_args())
        for _ in d.block():
            raise d.unknown_property(())
        if d.next():
            raise d.once_error()
        if "etcd" not in block.plugins:
            raise d.error("stub reads its zones from etcd: add the etcd plugin to this server block")
        return zones

    def build(self, zones, block, next):
        reactor = block.reactor
        if reactor is None:
            from twisted.internet import reactor
        handler = Stub(zones, Client(reactor), next)

        def attach():
            handler.attach(block.handlers["etcd"])

        block.on_startup(attach)
        block.on_shutdown(handler.detach)
        return handler


setup = StubSetup()
