"""Corefile: ``stub [ZONES...]``: stub zones from the record source (etcd plugin) of the same block.

Stub zones live in etcd under ``dns/stub`` of each ZONE (default: the etcd
plugin's zones): the service ``ns1.skydns.com.stub.dns.skydns.local`` (key
``/skydns/local/skydns/dns/stub/com/skydns/ns1``) with ``{"host": "172.16.1.1",
"port": 54}`` makes 172.16.1.1:54 a nameserver of ``skydns.com``.
"""
from __future__ import annotations

from zope.interface import implementer

from skydns.clients.dnsclient import Client, default_max_inflight
from skydns.clients.nameservers import Health
from skydns.interfaces import IPluginSetup, IRecordSource
from skydns.plugin.stub.stub import Stub


@implementer(IPluginSetup)
class StubSetup:
    name = "stub"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "stub"

    def parse(self, d, block):
        d.next()
        zones = d.zones(d.remaining_args())
        for _ in d.block():
            raise d.unknown_property(())
        if d.next():
            raise d.once_error()
        return zones

    def build(self, zones, block, next):
        reactor = block.reactor
        source = block.require(IRecordSource, self.name, "a record source to read stub zones from (the etcd plugin)")
        client = Client(reactor)
        # A nameserver that fails twice in a row is skipped, and asked ". NS" every half second until
        # it answers again (as forward does with its upstreams).
        health = Health(client, reactor, 0.5, 2, recursion=False, plugin=self.name)
        handler = Stub(zones, client, next, health=health, max_inflight=default_max_inflight(), server=block.name)
        block.on_startup(lambda: handler.attach(source))
        block.on_shutdown(handler.detach)
        return handler


setup = StubSetup()
