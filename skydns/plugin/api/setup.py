"""Corefile: ``api [ADDRESS] { token TOKEN | token_file FILE; tls CERT KEY }``.

ADDRESS defaults to ``localhost:9001`` (the Kubernetes fork's port). The API
writes where the block's record source (the *etcd* plugin) reads from;
relative names are taken in that source's first zone. ``$SKYDNS_API_TOKEN`` is the
token when neither property is given.
"""
from __future__ import annotations

import os

from zope.interface import implementer

from skydns.interfaces import IPluginSetup, IWritableSource
from skydns.listen.httpserver import address_argument, shared_listener
from skydns.plugin.api.resource import RecordsAPI


@implementer(IPluginSetup)
class ApiSetup:
    name = "api"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "api 127.0.0.1:${http_port} {\n    token ${api_token}\n}"

    def parse(self, d, block):
        d.next()
        host, port = address_argument(d, "localhost", 9001)
        token, tls = os.environ.get("SKYDNS_API_TOKEN"), None
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if prop == "token":
                d.expect_args(vals, 1)
                token = vals[0]
            elif prop == "token_file":
                d.expect_args(vals, 1)
                try:
                    with open(d.path(vals[0])) as f:
                        token = f.read().strip()
                except OSError as e:
                    raise d.error(f"cannot read token file {vals[0]}: {e.strerror}") from e
            elif prop == "tls":
                if len(vals) != 2:
                    raise d.error("tls needs CERT and KEY")
                vals = [d.path(f) for f in vals]
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
        return host, port, token, tls, (d.token.file, d.token.line)

    def build(self, cfg, block, next):
        host, port, token, tls, where = cfg
        reactor = block.reactor
        source = block.require(IWritableSource, self.name, "a record source to write to (the etcd plugin)")
        api = RecordsAPI(token, reactor)
        listener = shared_listener(block, host, port, where, tls)
        listener.mount("/skydns", api)
        api.attach(source)  # it reads nothing until asked: etcd is reached on the first request
        return None


setup = ApiSetup()
