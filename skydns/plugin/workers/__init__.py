"""Corefile: ``workers N``: run N processes sharing every port (read by the ``skydns`` command)."""
from zope.interface import implementer

from skydns.interfaces import IListenerSetup


@implementer(IListenerSetup)
class WorkersSetup:
    name = "workers"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "workers 1"

    def parse(self, d, block):
        d.next()
        n = d.int_value(d.arg(), 1, 256, "workers")
        if d.next():
            raise d.once_error()
        return n

    def configure(self, config, settings):
        settings.workers = config

    def build(self, config, block, next):
        return None


setup = WorkersSetup()
