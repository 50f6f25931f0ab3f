"""Corefile: ``whoami`` (no arguments)."""
from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.plugin.whoami.whoami import Whoami


@implementer(IPluginSetup)
class WhoamiSetup:
    name = "whoami"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "whoami"

    def parse(self, d, block):
        d.next()
        d.args(0)
        if d.next():
            raise d.once_error()
        return None

    def build(self, config, block, next):
        return Whoami(next)


setup = WhoamiSetup()
