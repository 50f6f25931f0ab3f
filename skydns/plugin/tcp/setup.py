"""Corefile: ``tcp { max_connections N }``: limits of the block's DNS-over-TCP listeners.

Named and shaped like CoreDNS's ``https { max_connections N }`` and
``grpc_server { max_connections N }``: at most N concurrent TCP connections
per listening address (default 200, 0 for no cap). At the cap a new connection
takes the place of the one without a whole query or reply for longest (idle,
dripping a query, or not reading), keeping those whose queries are being answered.
"""
from zope.interface import implementer

from skydns.interfaces import IPluginSetup


@implementer(IPluginSetup)
class TcpSetup:
    name = "tcp"
    position = None

    def parse(self, d, block):
        d.next()
        if d.next_arg():
            raise d.arg_error()
        seen = False
        for _ in d.block():
            if d.val != "max_connections":
                raise d.unknown_property(("max_connections",))
            args = d.remaining_args()
            if len(args) != 1:
                raise d.arg_error()
            block.max_connections = d.int_value(args[0], 0, 1_000_000, "max_connections")
            seen = True
        if not seen:
            raise d.error("tcp needs a block: tcp { max_connections N }")
        if d.next():
            raise d.once_error()
        return block.max_connections

    def build(self, config, block, next):
        return None


setup = TcpSetup()
