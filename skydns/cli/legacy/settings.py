"""SkyDNS's settings: its flags, its environment and ``/<path-prefix>/config``, in SkyDNS's precedence.

Built-in defaults, then the environment, then the flags, then etcd's config ("the settings
in etcd take precedence"). Every flag and config key of SkyDNS's README (and of its Go
source, v2.5.3a) is read here; what cannot be served is refused by the Corefile writer with
the reason, what needs nothing is noted.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

#: SkyDNS's flags: name -> (setting, kind); kind "bool" flags take no value (or =true/=false).
FLAGS = {
    "addr": ("dns_addr", "str"), "domain": ("domain", "str"), "machines": ("machines", "list"),
    "discover": ("discover", "bool"), "path-prefix": ("path_prefix", "str"), "tls-key": ("tls_key", "str"),
    "tls-pem": ("tls_pem", "str"), "ca-cert": ("ca_cert", "str"), "username": ("username", "str"),
    "password": ("password", "str"), "password-file": ("password_file", "str"), "local": ("local", "str"),
    "dnssec": ("dnssec", "str"),
    "nameservers": ("nameservers", "list"), "ndots": ("ndots", "int"), "no-rec": ("no_rec", "bool"),
    "rcache": ("rcache", "int"), "rcache-ttl": ("rcache_ttl", "int"), "scache": ("scache", "int"),
    "round-robin": ("round_robin", "bool"), "systemd": ("systemd", "bool"), "verbose": ("verbose", "bool"),
    "etcd3": ("etcd3", "bool"), "hostmaster": ("hostmaster", "str"), "ttl": ("ttl", "int"),
    "min-ttl": ("min_ttl", "int"), "rtimeout": ("read_timeout", "str"), "ns-rotate": ("ns_rotate", "bool"),
    "stubzones": ("stubzones", "bool"), "version": ("version", "bool"),
    "config-file": ("config_files", "append"),  # the Kubernetes fork's INI files (skydns.migrate.fork)
}
#: The environment SkyDNS read: variable -> setting.
ENVIRONMENT = {
    "ETCD_MACHINES": "machines", "ETCD_TLSKEY": "tls_key", "ETCD_TLSPEM": "tls_pem", "ETCD_CACERT": "ca_cert",
    "ETCD_USERNAME": "username", "ETCD_PASSWORD": "password", "SKYDNS_ADDR": "dns_addr",
    "SKYDNS_DOMAIN": "domain", "SKYDNS_NAMESERVERS": "nameservers", "SKYDNS_PATH_PREFIX": "path_prefix",
    "SKYDNS_SYSTEMD": "systemd", "SKYDNS_NDOTS": "ndots",
}
#: Keys of /skydns/config (their JSON names in SkyDNS's Config) -> setting. ``ndot`` is SkyDNS's own
#: spelling (``ndots`` is taken too); Go's decoder matches names case-insensitively, so do we.
CONFIG_KEYS = {
    "dns_addr": "dns_addr", "domain": "domain", "dnssec": "dnssec", "hostmaster": "hostmaster", "local": "local",
    "round_robin": "round_robin", "ns_rotate": "ns_rotate", "nameservers": "nameservers", "no_rec": "no_rec",
    "read_timeout": "read_timeout", "priority": "priority", "ttl": "ttl", "min_ttl": "min_ttl",
    "scache": "scache", "rcache": "rcache", "rcache_ttl": "rcache_ttl", "ndot": "ndots", "ndots": "ndots",
    "systemd": "systemd", "etcd3": "etcd3", "version": "version",
}


class LegacyError(ValueError):
    """A flag, variable or config value that cannot be used; the message names it."""


@dataclass
class ForkSettings:
    """What the Kubernetes fork configured that SkyDNS did not have."""

    monitor: str = ""  # the health monitor's status path (etcd { monitor PATH })
    answer_cache: int = 0  # cacheSize
    policy: str = ""  # random_one or sticky (loadbalance)
    metrics_address: str = ""  # statsServer
    api_address: str = ""  # the records API, when api-enable = YES
    api_token: str = ""
    checks: dict = field(default_factory=dict)  # the scanner's: interval, timeout, id, enabled
    kubernetes: bool = False  # kube-enable = YES: kubewatch
    kube_endpoint: str = ""  # kube-master-url
    kubeconfig: str = ""  # kubecfg-file


@dataclass
class Settings:
    dns_addr: str = "127.0.0.1:53"
    domain: str = "skydns.local."
    machines: list = field(default_factory=lambda: ["http://127.0.0.1:4001"])
    discover: bool = False
    path_prefix: str = "skydns"
    tls_key: str = ""
    tls_pem: str = ""
    ca_cert: str = ""
    username: str = ""
    password: str = ""
    password_file: str = ""
    local: str = ""
    dnssec: str = ""
    hostmaster: str = ""
    nameservers: list | None = None  # None: /etc/resolv.conf's
    ndots: int = 2
    no_rec: bool = False
    rcache: int = 0
    rcache_ttl: int = 60
    scache: int = 10000
    round_robin: bool = True
    ns_rotate: bool = True  # SkyDNS's default: forwarded queries rotate over the nameservers
    stubzones: bool = False
    priority: int = 10
    systemd: bool = False
    verbose: bool = False
    version: bool = False
    etcd3: bool = False
    ttl: int = 3600
    min_ttl: int = 30
    read_timeout: str = ""  # a duration ("2s"); SkyDNS's default 2s is forward's too
    config_files: list = field(default_factory=list)
    #: what the fork's INI files add (skydns.cli.legacy.fork)
    fork: ForkSettings = field(default_factory=lambda: ForkSettings())
    notes: list = field(default_factory=list)  # what was translated loosely or ignored

    def set(self, name: str, value, source: str) -> None:
        current = getattr(self, name)
        try:
            if name == "read_timeout":
                value = _duration(value)
            elif name == "config_files":
                value = current + [str(value)]
            elif isinstance(current, bool):
                value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
            elif isinstance(current, int):
                if isinstance(value, bool) or (isinstance(value, float) and value != int(value)):
                    raise ValueError("not a whole number")
                value = int(value)
            elif name in ("machines", "nameservers"):
                value = value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
            else:
                value = str(value)
        except (TypeError, ValueError) as e:
            raise LegacyError(f"{source}: {name} {value!r} is not a valid value") from e
        setattr(self, name, value)


def _duration(value) -> str:
    """SkyDNS's read timeout as a Corefile duration: Go's text ("2s", "500ms") or, from JSON, nanoseconds."""
    from skydns.config.corefile.dispenser import parse_duration

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1e9
    else:
        seconds = parse_duration(str(value))
    if not 0 < seconds <= 3600:
        raise ValueError("a read timeout from 1ns to 1h")
    return f"{max(1, round(seconds * 1000))}ms"


def parse_flags(argv: list[str], settings: Settings) -> list[str]:
    """Go-style flags (``-addr X``, ``-addr=X``, ``--addr X``, ``-no-rec``) into ``settings``; what is left
    (everything after ``--``: twistd's options for ``skydns legacy``)."""
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("-") or arg in ("-", "--"):
            rest.extend(argv[i + (1 if arg == "--" else 0):])
            break
        name, eq, value = arg.lstrip("-").partition("=")
        if name not in FLAGS:
            raise LegacyError(f"unknown SkyDNS flag -{name} (known: {', '.join('-' + f for f in FLAGS)})")
        setting, kind = FLAGS[name]
        if kind == "bool":
            settings.set(setting, value if eq else True, f"-{name}")
        else:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise LegacyError(f"-{name} needs a value")
                value = argv[i]
            settings.set(setting, value, f"-{name}")
        i += 1
    return rest


def from_environment(environ, settings: Settings) -> None:
    for var, setting in ENVIRONMENT.items():
        if environ.get(var):
            settings.set(setting, environ[var], f"${var}")


def read_config(settings: Settings) -> dict | None:
    """``/<path-prefix>/config`` from etcd (the first member that answers), or None (with a note)."""
    from skydns.clients.etcd.connection import Connection, explain, parse_endpoint

    try:
        endpoints = tuple(parse_endpoint(u) for u in settings.machines)
    except ValueError as e:
        raise LegacyError(f"machines: {e}") from e
    conn = Connection(endpoints, settings.username or None, settings.password or None, settings.tls_pem or None,
                      settings.tls_key or None, settings.ca_cert or None, timeout=3.0)
    key = f"/{settings.path_prefix.strip('/')}/config"
    failures: list[str] = []
    for endpoint in endpoints:
        try:
            client = conn.client(endpoint)
            try:
                value, _ = client.get(key)
            finally:
                client.close()
        except Exception as e:
            failures.append(explain(e, endpoint))
            continue
        if value is None:
            return None
        try:
            data = json.loads(value)
        except ValueError as e:
            raise LegacyError(f"{key} in etcd is not JSON: {e}") from e
        if not isinstance(data, dict):
            raise LegacyError(f"{key} in etcd is not a JSON object")
        return data
    settings.notes.append(f"{key} was not read, so its settings are not used: {'; '.join(failures)}")
    return None


def apply_config(data: dict, settings: Settings) -> None:
    for k, v in data.items():
        name = CONFIG_KEYS.get(str(k).replace("-", "_").lower())
        if name is not None:
            settings.set(name, v, f"config {k}")
        else:
            settings.notes.append(f"config {k} is not used by skydns")


def load(argv: list[str], environ=None, etcd: bool = True) -> tuple[Settings, list[str]]:
    """Settings from defaults, environment, flags, the fork's INI files (``-config-file``) and (``etcd``)
    /skydns/config, in SkyDNS's precedence."""
    from skydns.cli.legacy import fork

    settings = Settings()
    from_environment(os.environ if environ is None else environ, settings)
    rest = parse_flags(argv, settings)
    for path in settings.config_files:
        fork.read(path, settings)
    if settings.password_file:
        try:
            with open(settings.password_file) as f:
                settings.password = f.read().strip()
        except OSError as e:
            raise LegacyError(f"-password-file {settings.password_file}: {e.strerror}") from e
    if etcd and not settings.version:
        data = read_config(settings)
        if data is not None:
            apply_config(data, settings)
    return settings, rest
