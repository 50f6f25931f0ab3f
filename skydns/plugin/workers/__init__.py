"""Corefile: ``workers N``: run N processes sharing every port (read by the ``skydns`` command)."""
from zope.interface import implementer

from skydns.interfaces import IPluginSetup


@implementer(IPluginSetup)
class WorkersSetup:
    name = "workers"
    position = None

    def parse(self, d, block):
        d.next()
        args = d.remaining_args()
        if len(args) != 1:
            raise d.arg_error()
        n = d.int_value(args[0], 1, 256, "workers")
        if d.next():
            raise d.once_error()
        block.workers = n
        return n

    def build(self, config, block, next):
        return None


setup = WorkersSetup()
