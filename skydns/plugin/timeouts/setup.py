"""Corefile: ``timeouts { read DURATION; write DURATION; idle DURATION }`` (CoreDNS's syntax).

For the block's DNS-over-TCP connections:

* ``idle`` (default 10s): how long a connection may go without a whole query or a reply;
  bytes of an unfinished query do not count.
* ``read`` (default 3s): how long a query may take to arrive whole, from its first byte.
* ``write`` (default 5s): how long a client may leave its replies unread; meanwhile the
  connection stops reading its queries.
"""
from zope.interface import implementer

from skydns.interfaces import IListenerSetup

PROPERTIES = ("read", "write", "idle")


@implementer(IListenerSetup)
class TimeoutsSetup:
    name = "timeouts"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "timeouts {\n    read 5s\n}"

    def parse(self, d, block):
        d.next()
        d.args(0)
        values = {}
        for _ in d.block():
            prop = d.val
            if prop not in PROPERTIES:
                raise d.unknown_property(PROPERTIES)
            text = d.arg()
            seconds = d.duration_value(text)
            if not 1 <= seconds <= 86400:
                raise d.error(f"timeout {prop} must be between 1s and 24h, got {text}")
            values[prop] = seconds
        if not values:
            raise d.error("timeouts needs a block with at least one of read, write, idle")
        if d.next():
            raise d.once_error()
        return values

    def configure(self, config, settings):
        for prop, seconds in config.items():
            setattr(settings, prop, seconds)

    def build(self, config, block, next):
        return None


setup = TimeoutsSetup()
