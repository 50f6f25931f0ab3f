"""Corefile: ``dns64 [PREFIX] { prefix PREFIX; translate_all; allow_ipv4; probe NAME [INTERVAL] }``."""
from __future__ import annotations

from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.query.upstream import Upstream
from skydns_dns64 import prefix as prefixes
from skydns_dns64.dns64 import DNS64, Probe

PROPERTIES = ("prefix", "translate_all", "allow_ipv4", "probe")


class DNS64Config:
    def __init__(self):
        self.prefix = prefixes.parse(prefixes.WELL_KNOWN)
        self.translate_all = False
        self.allow_ipv4 = False
        self.probe: str | None = None
        self.interval = 2.0


@implementer(IPluginSetup)
class DNS64Setup:
    name = "dns64"
    # Where CoreDNS puts it: after log, before acl, any and the cache, so it sees cached
    # answers and the cache keeps the real (unsynthesized) ones.
    position = ("before", "any")
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "dns64"

    def parse(self, d, block):
        cfg = DNS64Config()
        d.next()
        args = d.args(0, 1)
        given = False
        if args:
            cfg.prefix, given = self._prefix(d, args[0]), True
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if prop == "prefix":
                d.expect_args(vals, 1)
                if given:
                    raise d.error("the prefix is given twice")
                cfg.prefix, given = self._prefix(d, vals[0]), True
            elif prop in ("translate_all", "allow_ipv4"):
                d.expect_args(vals, 0)
                setattr(cfg, prop, True)
            elif prop == "probe":
                d.expect_args(vals, 1, 2)
                cfg.probe = d.zones(vals[:1])[0]
                if len(vals) == 2:
                    cfg.interval = d.duration_value(vals[1])
            else:
                raise d.unknown_property(PROPERTIES)
        if d.next():
            raise d.once_error()
        return cfg

    @staticmethod
    def _prefix(d, text: str):
        try:
            return prefixes.parse(text)
        except ValueError as e:
            raise d.error(str(e)) from None

    def build(self, cfg: DNS64Config, block, next):
        upstream = Upstream(block)
        if cfg.probe is not None:
            probe = Probe(upstream, cfg.probe, cfg.interval, block.clock)
            block.provide(probe)  # its readiness (IReadiness), for the ready plugin
            block.on_startup(probe.start)
            block.on_shutdown(probe.stop)
        return DNS64(cfg.prefix, upstream, next, cfg.translate_all, cfg.allow_ipv4, server=block.name)


setup = DNS64Setup()
