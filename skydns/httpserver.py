"""HTTP listeners for the metrics, health and ready endpoints.

One listener per address, shared by every plugin and server block that names
it, and kept across reloads (it is acquired through :meth:`Block.acquire`):
a reload, failed or not, never closes an endpoint that is still configured.
"""
from __future__ import annotations

from twisted.internet.error import CannotListenError
from twisted.web.resource import NoResource, Resource
from twisted.web.server import Site

from skydns.errors import CorefileError


def parse_address(text: str, default_port: int) -> tuple[str, int]:
    """``[HOST]:PORT``, ``HOST:PORT``, ``:PORT`` or ``HOST`` -> (host, port); ValueError when it is none."""
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = int(rest.lstrip(":"))
    elif text.count(":") == 1:
        host, p = text.split(":")
        port = int(p)
    if host in ("", "*"):
        host = "0.0.0.0"
    if host == "localhost":
        host = "127.0.0.1"
    if not 0 <= port < 65536:
        raise ValueError(f"port {port} out of range")
    return host, port


class Root(Resource):
    def getChild(self, path, request):
        return NoResource()


class HTTPListener:
    """A Twisted web server on one address, with resources mounted by path."""

    def __init__(self, reactor, host: str, port: int, where=("?", None)):
        self.root = Root()
        self.site = Site(self.root)
        self.site.noisy = False
        try:
            self.port = reactor.listenTCP(port, self.site, interface=host)
        except CannotListenError as e:
            raise CorefileError(f"cannot listen on {host}:{port} for HTTP: {e.socketError}", where[0], where[1])
        self.host = host
        self.mounted: dict[bytes, object] = {}

    @property
    def bound_port(self) -> int:
        return self.port.getHost().port

    def mount(self, path: str, resource) -> None:
        key = path.strip("/").encode()
        self.root.putChild(key, resource)
        self.mounted[key] = resource

    def close(self):
        return self.port.stopListening()
