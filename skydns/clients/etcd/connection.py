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
    password: str | None = field(default=None, repr=False)  # never in a log line or an error
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
        client.skydns_user = self.username  # who a refusal names (see denied)
        return client


#: What to check, by gRPC status: an operator's next step, not gRPC's words.
_ADVICE = {
    "UNAVAILABLE": ("could not connect", "is etcd running there, on that port? is the scheme (http/https) right?"),
    "DEADLINE_EXCEEDED": ("no answer in time", "a firewall dropping packets, or the wrong port?"),
    "UNAUTHENTICATED": ("the credentials were refused", "check the username and password (etcd's user)"),
    "PERMISSION_DENIED": ("permission denied", "the user's role needs read (and write) on the prefix"),
    "FAILED_PRECONDITION": ("refused the request", "etcd's auth or cluster state: see etcd's log"),
    "RESOURCE_EXHAUSTED": ("is out of room", "etcd's quota (--quota-backend-bytes) or request size"),
}


#: pyetcd's exceptions, by the gRPC status they stand for.
_PYETCD = {"ConnectionFailedError": "UNAVAILABLE", "ConnectionTimeoutError": "DEADLINE_EXCEEDED",
           "PreconditionFailedError": "FAILED_PRECONDITION", "NoServerAvailableError": "UNAVAILABLE"}


def explain(error: BaseException, endpoint: Endpoint | str | None = None) -> str:
    """An etcd client error in words for people: which endpoint, what failed, what to check.

    gRPC errors carry a status code and details (``UNAVAILABLE``, "connection refused"); the
    exception's own text is a multi-line dump of the call. Others are told by type and message.
    """
    where = f"etcd at {endpoint}" if endpoint is not None else "etcd"
    grpc_error = error
    if not callable(getattr(error, "code", None)):  # pyetcd raises its own, the gRPC error inside
        inner = error.__cause__ or error.__context__
        if inner is not None and callable(getattr(inner, "code", None)):
            grpc_error = inner
        elif type(error).__name__ in _PYETCD:
            what, check = _ADVICE[_PYETCD[type(error).__name__]]
            return f"{where}: {what}; {check}"
    error = grpc_error
    code = getattr(error, "code", None)
    details = getattr(error, "details", None)
    if callable(code) and callable(details):
        try:
            name = getattr(code(), "name", str(code()))
            said = (details() or "").strip()
        except Exception:
            name, said = "", ""
        what, check = _ADVICE.get(name, ("failed", ""))
        if name == "UNAVAILABLE" and any(w in said.lower() for w in ("ssl", "tls", "handshake", "certificate")):
            what, check = "the TLS handshake failed", "check the tls certificate, key and CA (and https://)"
        text = f"{where}: {what}" + (f" ({said})" if said else "")
        return text + (f"; {check}" if check else "")
    if isinstance(error, OSError) and error.strerror:
        return f"{where}: {error.strerror}"
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{where}: {type(error).__name__}" + (f": {message}" if message else "")


def is_etcd_error(error: BaseException) -> bool:
    """Did ``error`` come from etcd or the way to it (gRPC, pyetcd), not from skydns itself?"""
    if _status(error):
        return True
    return type(error).__name__ in _PYETCD or type(error).__module__.startswith(("pyetcd", "grpc"))


class Refused(Exception):
    """etcd refused a write or a read for want of permission; the message says what to grant, in one line."""


def _status(error: BaseException) -> str:
    """The gRPC status name behind an etcd client error ('' when there is none)."""
    for e in (error, error.__cause__, error.__context__):
        code = getattr(e, "code", None)
        if callable(code):
            try:
                return str(getattr(code(), "name", ""))
            except Exception:
                return ""
    return ""


def denied(client, error: BaseException, keys, write: bool = True) -> Refused | None:
    """A :class:`Refused` naming ``keys``, the user and its roles when ``error`` is etcd's PERMISSION_DENIED;
    None for any other error. Asks etcd for the user's roles (a user may read its own), in this thread."""
    if _status(error) != "PERMISSION_DENIED":
        return None
    keys = sorted(set(keys))
    shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
    user = getattr(client, "skydns_user", None)
    who = f"user {user}" if user else "the user (no credentials: etcd's guest)"
    if user:
        try:
            import pyetcd.etcdrpc as rpc

            got = client.authstub.UserGet(rpc.AuthUserGetRequest(name=user), client.timeout,
                                          credentials=client.call_credentials, metadata=client.metadata)
            who += f" (roles {', '.join(got.roles) or 'none'})"
        except Exception:
            who += " (its roles could not be read)"
    need = "readwrite" if write else "read"
    return Refused(f"etcd: permission denied {'writing' if write else 'reading'} {shown}: {who} needs a role "
                   f"with {need} on {'them' if len(keys) > 1 else 'it'} (see docs/security.md, etcd roles)")
