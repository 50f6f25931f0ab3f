"""Server-side TLS for DNS-over-TLS and DNS-over-HTTPS listeners: certificates from files, swapped on reload.

A listener keeps one :class:`SwappableServerTLS` for its life; a reload that keeps
the listener open hands it the new block's certificate, so connections made after
the reload use it and those already open are not touched.
"""
from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from zope.interface import implementer

#: ``client_auth`` values (CoreDNS's, after Go's ClientAuthType) this server can honour.
CLIENT_AUTH = ("nocert", "verify_if_given", "require_and_verify")


@dataclass(frozen=True)
class ServerTLS:
    """What the ``tls CERT KEY [CA] { client_auth ... }`` directive says."""

    cert: str
    key: str
    ca: str | None = None
    client_auth: str = "nocert"

    def context(self, alpn: tuple[bytes, ...] = ()):
        """A pyOpenSSL context: TLS 1.2 at least, the whole chain of CERT, client certificates as asked,
        ALPN offering ``alpn`` in our order of preference. Raises on an unreadable or mismatched file."""
        from OpenSSL import SSL

        ctx = SSL.Context(SSL.TLS_METHOD)
        ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
        ctx.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE)
        ctx.use_certificate_chain_file(self.cert)
        ctx.use_privatekey_file(self.key)
        ctx.check_privatekey()
        if self.client_auth != "nocert":
            if not self.ca:
                raise ValueError(f"client_auth {self.client_auth} needs the CA argument of tls")
            ctx.load_verify_locations(self.ca)
            mode = SSL.VERIFY_PEER
            if self.client_auth == "require_and_verify":
                mode |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
            ctx.set_verify(mode, lambda conn, cert, errno, depth, ok: bool(ok))
        if alpn:
            def select(conn, offered):
                for proto in alpn:
                    if proto in offered:
                        return proto
                return SSL.NO_OVERLAPPING_PROTOCOLS

            ctx.set_alpn_select_callback(select)
        # Session tickets for resumption: a reconnecting client skips the full handshake.
        ctx.set_session_id(b"skydns")
        return ctx


@implementer(IOpenSSLServerConnectionCreator)
class SwappableServerTLS:
    """The TLS a listener uses for new connections; :meth:`swap` changes it without closing the port."""

    def __init__(self, config: ServerTLS, alpn: tuple[bytes, ...] = ()):
        self.alpn = alpn
        self.config = config
        self._context = config.context(alpn)

    def swap(self, config: ServerTLS) -> None:
        if config != self.config:
            self._context = config.context(self.alpn)
            self.config = config

    def serverConnectionForTLS(self, tlsProtocol):
        from OpenSSL import SSL

        return SSL.Connection(self._context, None)
