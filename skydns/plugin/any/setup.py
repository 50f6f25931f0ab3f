"""Corefile: ``any`` (no arguments)."""
from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.plugin.any.any import Any


@implementer(IPluginSetup)
class AnySetup:
    name = "any"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "any"

    def parse(self, d, block):
        d.next()
        d.args(0)
        for _ in d.block():
            raise d.unknown_property(())
        if d.next():
            raise d.once_error()
        return None

    def build(self, config, block, next):
        return Any(next)


setup = AnySetup()
