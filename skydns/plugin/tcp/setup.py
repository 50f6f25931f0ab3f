"""Corefile: ``tcp { max_connections N }``: limits of the block's DNS-over-TCP listeners.

Named and shaped like CoreDNS's ``https { max_connections N }`` and
``grpc_server { max_connections N }``: at most N concurrent TCP connections
per listening address (default 200, 0 for no cap). At the cap a new connection
takes the place of the one without a whole query or reply for longest (idle,
dripping a query, or not reading), keeping those whose queries are being answered.
"""
from zope.interface import implementer

from skydns.interfaces import IListenerSetup


@implementer(IListenerSetup)
class TcpSetup:
    name = "tcp"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "tcp {\n    max_connections 100\n}"

    def parse(self, d, block):
        d.next()
        d.args(0)
        cap = None
        for _ in d.block():
            if d.val != "max_connections":
                raise d.unknown_property(("max_connections",))
            cap = d.int_value(d.arg(), 0, 1_000_000, "max_connections")
        if cap is None:
            raise d.error("tcp needs a block: tcp { max_connections N }")
        if d.next():
            raise d.once_error()
        return cap

    def configure(self, config, settings):
        settings.max_connections = config

    def build(self, config, block, next):
        return None


setup = TcpSetup()
