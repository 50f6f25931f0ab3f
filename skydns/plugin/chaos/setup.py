"""Corefile: ``chaos [VERSION] [AUTHORS...]`` (CoreDNS's syntax)."""
import socket

from zope.interface import implementer

from skydns import __version__
from skydns.interfaces import IPluginSetup
from skydns.plugin.chaos.chaos import Chaos

#: Answered for authors.bind when the Corefile names none.
DEFAULT_AUTHORS = ["The skydns authors"]


@implementer(IPluginSetup)
class ChaosSetup:
    name = "chaos"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "chaos"

    def parse(self, d, block):
        d.next()
        args = d.remaining_args()
        for _ in d.block():
            raise d.unknown_property(())
        if d.next():
            raise d.once_error()
        version = args[0] if args else f"skydns-{__version__}"
        return version, args[1:] or DEFAULT_AUTHORS

    def build(self, config, block, next):
        version, authors = config
        return Chaos(version, authors, socket.gethostname(), next)


setup = ChaosSetup()
