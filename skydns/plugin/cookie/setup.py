"""Corefile: DNS cookies (RFC 7873, server cookies as RFC 9018) on the block's listeners::

    cookie {
        secret HEX      16 bytes shared by every server of one address (anycast); default: a secret
                        of this server (its workers share it), never written anywhere
        rotate DURATION the secret changes this often (default 1h); the previous one is still accepted
        require         UDP queries without a valid server cookie get BADCOOKIE (or, without any
                        cookie, an empty truncated reply) instead of an answer
    }

Every reply to a query with a COOKIE option carries the client's cookie and a
server cookie, over UDP, TCP, TLS and HTTPS. With ``rrl``, a query bearing a
valid server cookie is never rate limited, and a limited client that sent a
cookie gets BADCOOKIE as its slip reply.
"""
from __future__ import annotations

from prometheus_client.core import CounterMetricFamily
from zope.interface import implementer

from skydns.interfaces import IListenerSetup, IMetrics
from skydns.query.cookies import CookieConfig, Jar

PROPERTIES = ("secret", "rotate", "require")


@implementer(IListenerSetup)
class CookieSetup:
    name = "cookie"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "cookie"

    def parse(self, d, block):
        d.next()
        d.args(0)
        values: dict = {}
        for _ in d.block():
            prop = d.val
            if prop not in PROPERTIES:
                raise d.unknown_property(PROPERTIES)
            if prop == "secret":
                text = d.arg()
                try:
                    secret = bytes.fromhex(text)
                except ValueError:
                    raise d.error("the secret is not hexadecimal") from None
                if len(secret) != 16:
                    raise d.error(f"the secret must be 16 bytes (32 hex digits), got {len(secret)}")
                values["secret"] = secret
            elif prop == "rotate":
                values["rotate"] = d.duration_value(d.arg())
            else:
                d.args(0)
                values["require"] = True
        if d.next():
            raise d.once_error()
        return CookieConfig(**values)

    def configure(self, config, settings):
        settings.cookies = Jar(config)

    def build(self, config, block, next):
        block.provide(CookieMetrics(block.settings.cookies, block.name))
        return None


@implementer(IMetrics)
class CookieMetrics:
    """Queries by what their cookie was: good, new (client cookie only), bad (a server cookie not ours), malformed."""

    def __init__(self, jar: Jar, server: str):
        self.jar = jar
        self.server = server

    def collect(self, prefix: str):
        family = CounterMetricFamily(prefix + "cookie_queries", "Queries with a DNS cookie, by its state.",
                                     labels=["server", "state"])
        for state, n in self.jar.counts.items():
            family.add_metric([self.server, state], n)
        return (family,)


setup = CookieSetup()
