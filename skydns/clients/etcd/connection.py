"""Connecting to etcd: endpoint URLs, credentials, TLS, and the blocking client (used in threads)."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    secure: bool

    def __str__(self) -> str:
        scheme = "https" if self.secure else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


def parse_endpoint(url: str) -> Endpoint:
    """``http://127.0.0.1:2379`` -> Endpoint; raise ValueError with what is wrong."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"endpoint '{url}' must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"endpoint '{url}' has no host")
    try:
        port = parts.port or 2379
    except ValueError:
        raise ValueError(f"endpoint '{url}' has a bad port") from None
    return Endpoint(parts.hostname, port, parts.scheme == "https")


#: gRPC channel options: large reads; keepalive pings so that a connection a partition left open is
#: found dead (etcd refuses pings more often than every 5 s); reconnection back-off kept short.
GRPC_OPTIONS = {
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.max_pings_without_data": 0,
    "grpc.initial_reconnect_backoff_ms": 250,
    "grpc.min_reconnect_backoff_ms": 250,
    "grpc.max_reconnect_backoff_ms": 2_000,
}


@dataclass(frozen=True)
class Connection:
    """Everything needed to reach one etcd cluster (also the key that shares copies across reloads)."""

    endpoints: tuple[Endpoint, ...]
    username: str | None = None
    password: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    timeout: float = field(default=5.0, compare=True)

    def client(self, endpoint: Endpoint):
        """A blocking pyetcd client for ``endpoint``: call only from a thread."""
        import pyetcd

        secure = endpoint.secure or self.tls_ca is not None
        client = pyetcd.client(
            host=endpoint.host, port=endpoint.port,
            ca_cert=self.tls_ca if secure else None,
            cert_key=self.tls_key if secure else None,
            cert_cert=self.tls_cert if secure else None,
            timeout=self.timeout, user=self.username, password=self.password,
            grpc_options=GRPC_OPTIONS.items(),
        )
        if not secure and client.call_credentials is not None:
            # pyetcd attaches the auth token twice: as metadata and as call credentials.
            # gRPC refuses call credentials on a plaintext channel, so keep the metadata only.
            client.call_credentials = None
            client.watcher._credentials = None
        return client
