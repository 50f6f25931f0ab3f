"""How kubewatch reaches the Kubernetes API: in the cluster, from a kubeconfig file, or as told.

* **In the cluster** (the default): ``$KUBERNETES_SERVICE_HOST``/``$KUBERNETES_SERVICE_PORT``,
  and the pod's service account (``token``, ``ca.crt``, ``namespace`` in
  ``/var/run/secrets/kubernetes.io/serviceaccount``).
* **A kubeconfig file**: its current context (or the one named): the cluster's ``server``
  and ``certificate-authority``/``-data`` (or ``insecure-skip-tls-verify``), the user's
  ``token``/``tokenFile`` or ``client-certificate``/``client-key`` (``-data`` too).
* **As told**: ``endpoint URL``, ``token_file``, ``ca``.

A token file is read again for every request that a 401 answered, so a rotated token
(projected service-account tokens last an hour) is taken without a restart.
"""
from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass, field

IN_CLUSTER = "/var/run/secrets/kubernetes.io/serviceaccount"


class CredentialsError(ValueError):
    """Credentials that cannot be used; the message says which file or field."""


@dataclass
class Credentials:
    server: str  # https://host:port
    ca_file: str | None = None
    insecure: bool = False
    token: str | None = None
    token_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    _kept: list = field(default_factory=list)  # temporary files holding -data values, for the process's life

    def bearer(self) -> str | None:
        """The token to send (the file read again each time: it may have been rotated)."""
        if self.token_file:
            try:
                with open(self.token_file) as f:
                    return f.read().strip() or None
            except OSError as e:
                raise CredentialsError(f"token file {self.token_file}: {e.strerror}") from e
        return self.token

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else ssl.create_default_context()
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def _data_file(self, data: str, what: str) -> str:
        try:
            raw = base64.b64decode(data)
        except ValueError as e:
            raise CredentialsError(f"{what} is not base64") from e
        f = tempfile.NamedTemporaryFile(prefix="skydns-kube-", suffix=".pem")  # 0600, deleted at exit
        f.write(raw)
        f.flush()
        self._kept.append(f)
        return f.name


def in_cluster(directory: str = IN_CLUSTER, environ=None) -> Credentials:
    environ = os.environ if environ is None else environ
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise CredentialsError("not in a Kubernetes pod ($KUBERNETES_SERVICE_HOST is not set): give kubeconfig FILE "
                               "or endpoint URL")
    token = os.path.join(directory, "token")
    if not os.path.exists(token):
        raise CredentialsError(f"no service account token at {token}")
    host = f"[{host}]" if ":" in host else host
    ca = os.path.join(directory, "ca.crt")
    return Credentials(f"https://{host}:{port}", ca_file=ca if os.path.exists(ca) else None, token_file=token)


def from_kubeconfig(path: str, context: str | None = None) -> Credentials:
    import yaml

    try:
        with open(path) as f:
            config = yaml.safe_load(f) or {}
    except OSError as e:
        raise CredentialsError(f"kubeconfig {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise CredentialsError(f"kubeconfig {path}: not YAML ({str(e).splitlines()[0]})") from e

    def named(kind: str, name: str) -> dict:
        for entry in config.get(kind) or []:
            if entry.get("name") == name:
                return entry.get(kind[:-1]) or {}
        raise CredentialsError(f"kubeconfig {path}: no {kind[:-1]} named {name!r}")

    ctx_name = context or config.get("current-context")
    if not ctx_name:
        raise CredentialsError(f"kubeconfig {path}: no current-context (name one: kubeconfig FILE CONTEXT)")
    ctx = named("contexts", ctx_name)
    cluster = named("clusters", ctx.get("cluster", ""))
    user = named("users", ctx.get("user", "")) if ctx.get("user") else {}
    server = cluster.get("server")
    if not server:
        raise CredentialsError(f"kubeconfig {path}: cluster {ctx.get('cluster')!r} has no server")
    base = os.path.dirname(os.path.abspath(path))

    def local(value):
        return value if value is None or os.path.isabs(value) else os.path.join(base, value)

    creds = Credentials(server.rstrip("/"), ca_file=local(cluster.get("certificate-authority")),
                        insecure=bool(cluster.get("insecure-skip-tls-verify")), token=user.get("token"),
                        token_file=local(user.get("tokenFile")), cert_file=local(user.get("client-certificate")),
                        key_file=local(user.get("client-key")))
    if cluster.get("certificate-authority-data"):
        creds.ca_file = creds._data_file(cluster["certificate-authority-data"], "certificate-authority-data")
    if user.get("client-certificate-data"):
        creds.cert_file = creds._data_file(user["client-certificate-data"], "client-certificate-data")
    if user.get("client-key-data"):
        creds.key_file = creds._data_file(user["client-key-data"], "client-key-data")
    if user.get("exec") or user.get("auth-provider"):
        raise CredentialsError(f"kubeconfig {path}: user {ctx.get('user')!r} authenticates through a plugin (exec, "
                               "auth-provider); give kubewatch a token or a client certificate")
    return creds
