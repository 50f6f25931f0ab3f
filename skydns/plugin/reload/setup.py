"""Corefile: ``reload [INTERVAL] [JITTER]`` (CoreDNS's syntax; defaults 30s and 15s)."""
from __future__ import annotations

from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.plugin.reload.reload import Reloader, digest

MIN_INTERVAL = 2.0
MIN_JITTER = 1.0


@implementer(IPluginSetup)
class ReloadSetup:
    name = "reload"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "reload 30s"

    def parse(self, d, block):
        d.next()
        args = d.args(0, 2)
        interval = d.duration_value(args[0]) if args else 30.0
        jitter = d.duration_value(args[1]) if len(args) > 1 else 15.0
        if interval < MIN_INTERVAL:
            raise d.error(f"interval value must be greater or equal to {MIN_INTERVAL:g}s, got {args[0]}")
        if jitter < MIN_JITTER:
            raise d.error(f"jitter value must be greater or equal to {MIN_JITTER:g}s, got {args[1]}")
        if jitter > interval / 2:
            jitter = interval / 2
        if d.next():
            raise d.once_error()
        # The checksum of what this configuration was loaded from, taken now so a change
        # made between loading and starting is still noticed.
        return interval, jitter, digest(block.files)

    def build(self, config, block, next):
        interval, jitter, loaded = config
        if block.service is None:
            return None
        reloader = block.shared(("reload", tuple(block.files)), lambda: Reloader(
            block.service, block.files, loaded, interval, jitter, block.clock))
        block.on_startup(reloader.start)
        block.on_shutdown(reloader.stop)
        return None


setup = ReloadSetup()
