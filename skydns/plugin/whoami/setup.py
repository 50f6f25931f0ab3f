"""Corefile: ``whoami`` (no arguments)."""
from zope.interface import implementer

from skydns.interfaces import IPluginSetup
from skydns.plugin.whoami.whoami import Whoami


@implementer(IPluginSetup)
class WhoamiSetup:
    name = "whoami"
    position = None

    def parse(self, d, block):
        d.next()
        d.args(0)
        if d.next():
            raise d.once_error()
        return None

    def build(self, config, block, next):
        return Whoami(next)


setup = WhoamiSetup()
