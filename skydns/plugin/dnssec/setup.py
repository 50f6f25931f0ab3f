"""Corefile: ``dnssec [ZONES...] { key file KEY...; cache_capacity N }`` (CoreDNS's syntax).

KEY is the basename ``Kzone.+alg+tag`` of files made by ``dnssec-keygen`` (or
the ``.key``/``.private`` path); relative paths are taken from the Corefile's
folder. Algorithms: RSASHA256 (8), ECDSAP256SHA256 (13), ED25519 (15).
"""
from __future__ import annotations

from zope.interface import implementer

from skydns.interfaces import IPluginSetup, IZoneSource
from skydns.plugin.dnssec.dnssec import DNSSEC
from skydns.plugin.dnssec.keys import KeyError_, load
from skydns.plugin.dnssec.signer import Signer
from skydns.plugin.dnssec.zone import SignedZone


@implementer(IPluginSetup)
class DNSSECSetup:
    name = "dnssec"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "dnssec ${zone} {\n    key file ${dnssec_key}\n}"

    def parse(self, d, block):
        d.next()
        zones = d.zones(d.remaining_args()) or list(block.zones)
        keys, capacity = [], 10000
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if prop == "key":
                if len(vals) < 2 or vals[0] != "file":
                    raise d.error("expected 'key file KEY...'")
                for v in vals[1:]:
                    try:
                        key = load(d.path(v))
                    except KeyError_ as e:
                        raise d.error(str(e)) from e
                    if key.zone not in zones:
                        raise d.error(f"key {key.path} is for {key.zone}, not one of {', '.join(zones)}")
                    keys.append(key)
            elif prop == "cache_capacity":
                d.expect_args(vals, 1)
                capacity = d.int_value(vals[0], 1, 10_000_000, "cache_capacity")
            else:
                raise d.unknown_property(("key", "cache_capacity"))
        if not keys:
            raise d.error("dnssec needs at least one 'key file KEY'")
        if d.next():
            raise d.once_error()
        for z in zones:
            if not any(k.zone == z for k in keys):
                raise d.error(f"no key for zone {z}")
        return zones, keys, capacity

    def build(self, cfg, block, next):
        zones, keys, capacity = cfg
        signers = {z: Signer(z, [k for k in keys if k.zone == z], capacity) for z in zones}
        handler = DNSSEC(signers, next, capacity, server=block.name)
        block.on_startup(lambda: handler.attach(block))
        # the zones as zone data, signed whole: what transfer hands the secondaries (it finds this first)
        sources = [s for s in block.find(IZoneSource) if any(z in s.zones for z in zones)]
        if sources:
            signed = SignedZone(sources[0], signers)
            block.provide(signed)
            block.on_startup(lambda: signed.start(block.clock))
            block.on_shutdown(signed.stop)
        return handler


setup = DNSSECSetup()
