"""HTTP listeners for the metrics, health, ready and records API endpoints.

One listener per address, shared by every plugin and server block that names
it, and kept across reloads (it is acquired through :meth:`Block.acquire`):
a reload, failed or not, never closes an endpoint that is still configured.
Each is bounded like every HTTP listener (:mod:`skydns.listen.httpbounds`):
bodies of at most 64 KiB, a request within 10 s, 100 connections. An address
given without a host (``:8080``) listens on every address, as written; the
plugins' defaults are loopback (docs/security.md).
"""
from __future__ import annotations

from twisted.internet.error import CannotListenError
from twisted.web.resource import NoResource, Resource

from skydns.config.errors import CorefileError
from skydns.listen.httpbounds import BoundedHTTPFactory, bounded_site, fixed_limits


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


def address_argument(d, default: str, default_port: int) -> tuple[str, int]:
    """The optional ADDRESS argument of an HTTP plugin's directive (the dispenser is on the directive)."""
    args = d.remaining_args()
    if len(args) > 1:
        raise d.arg_error()
    try:
        return parse_address(args[0] if args else default, default_port)
    except ValueError as e:
        raise d.error(f"bad address '{args[0]}': {e}") from e


class Root(Resource):
    def getChild(self, path, request):
        return NoResource()


class HTTPListener:
    """A Twisted web server on one address, with resources mounted by path (HTTPS with ``tls``)."""

    def __init__(self, reactor, host: str, port: int, where=("?", None), tls: tuple[str, str] | None = None,
                 clock=None):
        self.root = Root()
        self.site = bounded_site(self.root, access_log="changes")  # not every probe of /health
        self.factory = BoundedHTTPFactory(self.site, fixed_limits(name=f"http://{host}:{port}"),
                                          clock if clock is not None else reactor)
        try:
            if tls:  # the listeners' TLS: the whole chain of the certificate file is sent
                from skydns.listen.tlsconfig import ServerTLS, SwappableServerTLS
                from skydns.listen.tlsserver import TLSServerFactory

                secure = TLSServerFactory(SwappableServerTLS(ServerTLS(tls[0], tls[1])), self.factory)
                self.port = reactor.listenTCP(port, secure, interface=host)
            else:
                self.port = reactor.listenTCP(port, self.factory, interface=host)
        except CannotListenError as e:
            raise CorefileError(f"cannot listen on {host}:{port} for HTTP: {e.socketError}", where[0], where[1]) from e
        except Exception as e:  # a bad certificate or key
            raise CorefileError(f"cannot serve HTTPS on {host}:{port}: {e}", where[0], where[1]) from e
        self.host = host
        self.mounted: dict[bytes, object] = {}

    def mount(self, path: str, resource) -> None:
        key = path.strip("/").encode()
        self.root.putChild(key, resource)
        self.mounted[key] = resource

    def close(self):
        return self.port.stopListening()


def shared_listener(block, host: str, port: int, where=("?", None), tls: tuple[str, str] | None = None):
    """The HTTP(S) listener on ``host:port``: one per address for every plugin and block that names it,
    kept across reloads (taken with ``block.acquire``), closed when no configuration uses it."""
    return block.acquire(("https" if tls else "http", host, port),
                         lambda: HTTPListener(block.reactor, host, port, where, tls, block.clock),
                         lambda listener: listener.close())
