"""Corefile: ``tls CERT KEY [CA] { client_auth ... }``: the certificate of the block's tls:// and https:// listeners.

CoreDNS's syntax. ``client_auth`` is ``nocert`` (the default), ``verify_if_given`` or
``require_and_verify`` (client certificates checked against CA). Go's ``request`` and
``require`` (a client certificate asked for but never checked) are refused: they
authenticate nothing. ``keylog`` and ``acme`` are refused with what to use instead.
"""
from __future__ import annotations

import os

from zope.interface import implementer

from skydns.interfaces import IListenerSetup
from skydns.listen.tlsconfig import CLIENT_AUTH, ServerTLS


@implementer(IListenerSetup)
class TlsSetup:
    name = "tls"
    position = None
    #: a minimal configuration (${...}: filled by the combination test, skydns.testing.combinations)
    example = "tls ${tls_cert} ${tls_key}"

    def parse(self, d, block):
        d.next()
        args = d.remaining_args()
        if not 2 <= len(args) <= 3:
            raise d.error("tls takes CERT KEY [CA] (certificate and key files in PEM, and the CA of client "
                          "certificates); automatic certificates (acme) are not supported")
        args = [d.path(f) for f in args]
        for f in args:
            if not os.access(f, os.R_OK):
                raise d.error(f"cannot read {f}")
        client_auth = "nocert"
        for _ in d.block():
            prop = d.val
            vals = d.remaining_args()
            if prop == "client_auth":
                d.expect_args(vals, 1)
                if vals[0] not in CLIENT_AUTH:
                    raise d.error(f"client_auth {vals[0]} is not supported (expected one of {', '.join(CLIENT_AUTH)}; "
                                  "'request' and 'require' never verify the certificate)")
                client_auth = vals[0]
            elif prop == "keylog":
                raise d.error("keylog is not supported: it would write the session keys of every client to a file")
            else:
                raise d.unknown_property(("client_auth",))
        if d.next():
            raise d.once_error()
        cfg = ServerTLS(args[0], args[1], args[2] if len(args) > 2 else None, client_auth)
        try:
            cfg.context()  # a bad certificate, key or CA is refused here, at its line
        except Exception as e:
            raise d.error(f"cannot use {args[0]} and {args[1]}: {e}") from e
        if not any(k.transport in ("tls", "https") for k in block.keys):
            from twisted.logger import Logger

            Logger(namespace="skydns.plugin.tls").info(
                "{block}: tls is set but no key is tls:// or https://; it is not used", block=block.name)
        return cfg

    def configure(self, config, settings):
        settings.tls = config

    def build(self, config, block, next):
        return None


setup = TlsSetup()
