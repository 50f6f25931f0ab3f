"""Server-side TLS for DNS-over-TLS and DNS-over-HTTPS listeners: certificates from files, swapped on reload.

A listener keeps one :class:`SwappableServerTLS` for its life; a reload that keeps
the listener open hands it the new block's certificate, so connections made after
the reload use it and those already open are not touched.
"""
from __future__ import annotations

import ssl
from dataclasses import dataclass

#: ``client_auth`` values (CoreDNS's, after Go's ClientAuthType) this server can honour.
CLIENT_AUTH = ("nocert", "verify_if_given", "require_and_verify")


@dataclass(frozen=True)
class ServerTLS:
    """What the ``tls CERT KEY [CA] { client_auth ... }`` directive says."""

    cert: str
    key: str
    ca: str | None = None
    client_auth: str = "nocert"

    def context(self, alpn: tuple[bytes, ...] = ()) -> ssl.SSLContext:
        """The server's TLS (the standard library's, on the system's OpenSSL): TLS 1.2 at least, the whole
        chain of CERT, client certificates as asked, ALPN offering ``alpn`` in our order of preference (a
        client offering none of them gets no ALPN). Raises on an unreadable or mismatched file."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
        ctx.load_cert_chain(self.cert, self.key)  # checks that the key is the certificate's
        if self.client_auth != "nocert":
            if not self.ca:
                raise ValueError(f"client_auth {self.client_auth} needs the CA argument of tls")
            ctx.load_verify_locations(self.ca)
            ctx.verify_mode = ssl.CERT_REQUIRED if self.client_auth == "require_and_verify" else ssl.CERT_OPTIONAL
        if alpn:
            ctx.set_alpn_protocols([p.decode() for p in alpn])
        return ctx


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

    def server(self, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO) -> ssl.SSLObject:
        """The TLS of one new connection, reading ``incoming`` and writing ``outgoing``."""
        return self._context.wrap_bio(incoming, outgoing, server_side=True)
