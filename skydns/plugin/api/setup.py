"""Corefile: ``api [ADDRESS] { token TOKEN | token_file FILE; tls CERT KEY }``.

ADDRESS defaults to ``localhost:9001`` (the Kubernetes fork's port). The API
writes to the etcd of the *etcd* plugin in the same server block; relative
names are taken in that plugin's first zone. ``$SKYDNS_API_TOKEN`` is the
token when neither property is given.
"""
from __future__ import annotations

import os

from zope.interface import implementer

from skydns.errors import CorefileError
from skydns.httpserver import HTTPListener, parse_address
from skydns.interfaces import IPluginSetup
from skydns.plugin.api.resource import RecordsAPI


class TLSListener(HTTPListener):
    def __init__(self, reactor, host, port, where, cert, key):
        from twisted.internet import ssl
        from twisted.web.resource import Resource
        from twisted.web.server import Site

        self.root = Resource()
        self.site = Site(self.root)
        self.site.noisy = False
        with open(cert, "rb") as c, open(key, "rb") as k:
            options = ssl.PrivateCertificate.loadPEM(c.read() + b"\n" + k.read()).options()
        try:
            self.port = reactor.listenSSL(port, self.site, options, interface=host)
        except Exception as e:
            raise CorefileError(f"cannot listen on {host}:{port} for HTTPS: {e}", where[0], where[1])
        self.host = host
        self.mounted = {}


@implementer(IPluginSetup)
class ApiSetup:
    name = "api"
    position = None

    def parse(self, d, block):
        d.next()
        args = d.remaining_args()
        if len(args) > 1:
            raise d.arg_error()
        try:
            host, port = parse_address(args[0] if args else "localhost", 9001)
        except ValueError as e:
            raise d.error(f"bad address '{args[0]}': {e}")
        token, tls = os.environ.get("SKYDNS_API_TOKEN"), None
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if prop == "token":
                if len(vals) != 1:
                    raise d.arg_error()
                token = vals[0]
            elif prop == "token_file":
                if len(vals) != 1:
                    raise d.arg_error()
                try:
                    with open(vals[0]) as f:
                        token = f.read().strip()
                except OSError as e:
                    raise d.error(f"cannot read token file {vals[0]}: {e.strerror}")
            elif prop == "tls":
                if len(vals) != 2:
                    raise d.error("tls needs CERT and KEY")
                for f in vals:
                    if not os.access(f, os.R_OK):
                        raise d.error(f"tls: cannot read {f}")
                tls = tuple(vals)
            else:
                raise d.unknown_property(("token", "token_file", "tls"))
        if not token or len(token) < 8:
            raise d.error("the API needs a token of at least 8 characters (token, token_file or $SKYDNS_API_TOKEN)")
        if d.next():
            raise d.once_error()
        if "etcd" not in block.plugins:
            raise d.error("the records API writes through the etcd plugin: add etcd to this server block")
        return host, port, token, tls, (d.token.file, d.token.line)

    def build(self, cfg, block, next):
        host, port, token, tls, where = cfg
        reactor = block.reactor
        if reactor is None:
            from twisted.internet import reactor
        api = RecordsAPI(token, reactor)
        if tls:
            listener = block.acquire(("https", host, port),
                                     lambda: TLSListener(reactor, host, port, where, *tls), lambda l: l.close())
        else:
            listener = block.acquire(("http", host, port), lambda: HTTPListener(reactor, host, port, where),
                                     lambda l: l.close())
        listener.mount("/skydns", api)

        def attach():
            api.etcd = block.handlers["etcd"]

        block.on_startup(attach)
        return None


setup = ApiSetup()
