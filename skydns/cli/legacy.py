"""SkyDNS's own configuration, as a Corefile: its command line, its environment and ``/skydns/config``.

People leaving SkyDNS bring a command line (``skydns -addr 0.0.0.0:53 -domain
skydns.local -nameservers 8.8.8.8:53 ...``), ``SKYDNS_*``/``ETCD_*`` variables and
the JSON object SkyDNS keeps in etcd at ``/<path-prefix>/config``. SkyDNS's
precedence holds: built-in defaults, then the environment, then the flags, then
etcd's config ("the settings in etcd take precedence"). :func:`corefile` writes the
equivalent Corefile; ``skydns migrate FLAGS...`` prints it, ``skydns legacy
FLAGS...`` serves it directly.

Whoever can write ``/skydns/config`` chooses values that end up in a Corefile, so
every value is checked before it is written there (a name is a name, a port a
number, a file a path: no spaces, braces, quotes, comments or ``{$VARIABLE}``),
never interpolated, and the Corefile is parsed before anything serves it. etcd's
username and password never go into it: ``skydns legacy`` hands them to the
etcd plugin through ``$ETCD_USERNAME``/``$ETCD_PASSWORD`` (``-password-file FILE``
keeps the password off the command line, where ``ps`` shows it).
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import sys
from dataclasses import dataclass, field

from zope.interface import implementer

from skydns.interfaces import ICommand

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
    "min-ttl": ("min_ttl", "int"),
}
#: The environment SkyDNS read: variable -> setting.
ENVIRONMENT = {
    "ETCD_MACHINES": "machines", "ETCD_TLSKEY": "tls_key", "ETCD_TLSPEM": "tls_pem", "ETCD_CACERT": "ca_cert",
    "ETCD_USERNAME": "username", "ETCD_PASSWORD": "password", "SKYDNS_ADDR": "dns_addr",
    "SKYDNS_DOMAIN": "domain", "SKYDNS_NAMESERVERS": "nameservers", "SKYDNS_PATH_PREFIX": "path_prefix",
    "SKYDNS_SYSTEMD": "systemd", "SKYDNS_NDOTS": "ndots",
}
#: Keys of /skydns/config that skydns honours; others are reported as ignored.
CONFIG_KEYS = ("dns_addr", "domain", "dnssec", "hostmaster", "local", "round_robin", "nameservers", "no_rec",
               "read_timeout", "ttl", "min_ttl", "scache", "rcache", "rcache_ttl", "ndots", "systemd", "etcd3")


class LegacyError(ValueError):
    """A flag, variable or config value that cannot be used; the message names it."""


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
    systemd: bool = False
    verbose: bool = False
    etcd3: bool = False
    ttl: int = 3600
    min_ttl: int = 30
    read_timeout: str = ""
    notes: list = field(default_factory=list)  # what was translated loosely or ignored

    def set(self, name: str, value, source: str) -> None:
        current = getattr(self, name)
        try:
            if isinstance(current, bool):
                value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")
            elif isinstance(current, int):
                value = int(value)
            elif name in ("machines", "nameservers"):
                value = value if isinstance(value, list) else [v.strip() for v in str(value).split(",") if v.strip()]
            else:
                value = str(value)
        except (TypeError, ValueError) as e:
            raise LegacyError(f"{source}: {name} {value!r} is not a valid value") from e
        setattr(self, name, value)


def parse_flags(argv: list[str], settings: Settings) -> list[str]:
    """Go-style flags (``-addr X``, ``-addr=X``, ``--addr X``, ``-no-rec``) into ``settings``; what is left."""
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


#: What a value written into a Corefile may hold: no white space, braces, quotes, '#', '$' or ';'.
_WORD = re.compile(r"[A-Za-z0-9_.:/@\[\]%+=,*-]+\Z")


def _word(value: str, what: str) -> str:
    """``value`` when it can stand in a Corefile as one plain word; LegacyError otherwise."""
    if not isinstance(value, str) or not _WORD.match(value) or len(value) > 1024:
        raise LegacyError(f"{what} {str(value)[:60]!r} cannot go into a Corefile (one word: letters, digits "
                          "and . : / @ - _ [ ] % + = , * only)")
    return value


def _name(value: str, what: str) -> str:
    """A domain name (a mailbox ``user@domain`` for the hostmaster), checked."""
    import dns.name

    _word(value, what)
    try:
        dns.name.from_text(value.replace("@", ".", 1) if what == "hostmaster" else value)
    except Exception as e:
        raise LegacyError(f"{what} {value!r} is not a domain name: {e}") from e
    return value


def _upstream(value: str) -> str:
    """A nameserver ``IP[:PORT]`` (or ``[IPv6]:PORT``)."""
    _word(value, "nameserver")
    host, _, port = value.rpartition(":") if value.count(":") == 1 or value.startswith("[") else (value, "", "")
    try:
        ipaddress.ip_address(host.strip("[]"))
        if port and not 0 < int(port) < 65536:
            raise ValueError("port out of range")
    except ValueError as e:
        raise LegacyError(f"nameserver {value!r} is not IP[:PORT]: {e}") from e
    return value


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
        name = k.replace("-", "_")
        if name in CONFIG_KEYS:
            settings.set(name, v, f"config {k}")
        else:
            settings.notes.append(f"config {k} is not used by skydns")


def load(argv: list[str], environ=None, etcd: bool = True) -> tuple[Settings, list[str]]:
    """Settings from defaults, environment, flags and (``etcd``) /skydns/config, in SkyDNS's precedence."""
    settings = Settings()
    from_environment(os.environ if environ is None else environ, settings)
    rest = parse_flags(argv, settings)
    if settings.password_file:
        try:
            with open(settings.password_file) as f:
                settings.password = f.read().strip()
        except OSError as e:
            raise LegacyError(f"-password-file {settings.password_file}: {e.strerror}") from e
    if etcd:
        data = read_config(settings)
        if data is not None:
            apply_config(data, settings)
    return settings, rest


def _host_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    try:
        return host, int(port)
    except ValueError as e:
        raise LegacyError(f"dns_addr {addr!r} is not HOST:PORT") from e


def corefile(s: Settings) -> str:
    """The Corefile that serves as SkyDNS did with these settings; every value checked (LegacyError)."""
    host, port = _host_port(s.dns_addr)
    if host not in ("", "0.0.0.0", "::"):
        try:
            ipaddress.ip_address(host)
        except ValueError as e:
            raise LegacyError(f"dns_addr {s.dns_addr!r}: {host!r} is not an IP address") from e
    if not 0 <= port < 65536:
        raise LegacyError(f"dns_addr {s.dns_addr!r}: port out of range")
    domain = _name(s.domain.rstrip(".") + ".", "domain")
    _word(s.path_prefix.strip("/"), "path_prefix")
    for m in s.machines:
        _word(m, "machine")
    for what, f in (("dnssec", s.dnssec), ("tls_pem", s.tls_pem), ("tls_key", s.tls_key), ("ca_cert", s.ca_cert)):
        if f:
            _word(f, what)
    if s.hostmaster:
        _name(s.hostmaster, "hostmaster")
    if s.local:
        _name(s.local, "local")
    for ns in s.nameservers or []:
        _upstream(ns)
    lines = [f"# From SkyDNS's configuration (skydns migrate). dns_addr {s.dns_addr}, domain {domain}",
             f".:{port} {{"]
    if host not in ("", "0.0.0.0", "::"):
        lines.append(f"    bind {host}")
    if s.verbose:
        lines.append("    log")
    if os.environ.get("PROMETHEUS_PORT"):
        lines.append(f"    prometheus :{os.environ['PROMETHEUS_PORT']}")
    if s.round_robin:
        lines.append("    loadbalance round_robin")
    if s.rcache > 0:
        lines += [f"    cache {s.rcache_ttl} {domain} {{", f"        success {s.rcache}", "    }"]
    if s.dnssec:
        lines += [f"    dnssec {domain} {{", f"        key file {s.dnssec}", f"        cache_capacity {s.scache}",
                  "    }"]
    lines += [f"    etcd {domain} {{", f"        path /{s.path_prefix.strip('/')}",
              f"        endpoint {' '.join(s.machines)}"]
    # the username and password go to the etcd plugin through $ETCD_USERNAME and $ETCD_PASSWORD, never the text
    if s.tls_pem or s.tls_key or s.ca_cert:
        files = [f for f in (s.tls_pem, s.tls_key) if f] + ([s.ca_cert] if s.ca_cert else [])
        lines.append(f"        tls {' '.join(files)}")
    lines += [f"        ttl {s.ttl}", f"        min_ttl {s.min_ttl}"]
    if s.hostmaster:
        lines.append(f"        hostmaster {s.hostmaster}")
    if s.local:
        lines.append(f"        local {s.local}")
    if s.discover:
        lines.append("        discover")
    lines.append("    }")
    upstreams = " ".join(s.nameservers) if s.nameservers else "/etc/resolv.conf"
    lines.append(f"    forward . {upstreams} {{")
    if s.no_rec:
        lines.append("        no_rec")
    if s.ndots:
        lines.append(f"        ndots {s.ndots}")
    lines += ["    }", "}"]
    text = "\n".join(lines) + "\n"
    _check_parses(text)
    return text


def _check_parses(text: str) -> None:
    """The Corefile's syntax, checked as the server would (LegacyError naming the problem)."""
    import tempfile

    from skydns.config.corefile.parser import parse_file
    from skydns.config.errors import CorefileError
    from skydns.config.registry import Registry

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "Corefile")
        with open(path, "w") as f:
            f.write(text)
        try:
            parse_file(path, Registry().check, 53)
        except CorefileError as e:
            raise LegacyError(f"the Corefile made from these settings does not parse: {e}") from e


def credentials(s: Settings) -> dict[str, str]:
    """``$ETCD_USERNAME``/``$ETCD_PASSWORD`` for the etcd plugin (the password from -password-file when given)."""
    env: dict[str, str] = {}
    if s.username:
        env["ETCD_USERNAME"] = s.username
    if s.password:
        env["ETCD_PASSWORD"] = s.password
    return env


@implementer(ICommand)
class MigrateCommand:
    name = "migrate"
    summary = "print the Corefile equivalent to a SkyDNS command line, its environment and /skydns/config"

    def run(self, argv: list[str]) -> int:
        if argv[:1] in (["-h"], ["--help"]):
            print(f"usage: skydns migrate [SkyDNS flags: {' '.join('-' + f for f in FLAGS)}]\n{self.summary}")
            return 0
        try:
            settings, rest = load(argv)
            if rest:
                raise LegacyError(f"unexpected arguments: {' '.join(rest)}")
            text = corefile(settings)
            if settings.username or settings.password or settings.password_file:
                text = ("# etcd's username and password are not written here: give them to skydns as "
                        "$ETCD_USERNAME and $ETCD_PASSWORD\n") + text
        except LegacyError as e:
            sys.stderr.write(f"skydns migrate: {e}\n")
            return 2
        sys.stdout.write(text)
        for note in settings.notes:
            sys.stderr.write(f"note: {note}\n")
        return 0


@implementer(ICommand)
class LegacyCommand:
    name = "legacy"
    summary = "serve a SkyDNS command line (its flags, environment and /skydns/config) as it is"

    def run(self, argv: list[str]) -> int:
        import tempfile

        from skydns.cli.tap import run_twistd

        if any(a.lstrip("-").split("=")[0] == "password" for a in argv):
            sys.stderr.write("warning: -password shows in ps and in the shell's history; use $ETCD_PASSWORD or "
                             "-password-file FILE\n")
        try:
            settings, rest = load(argv)
            text = corefile(settings)
            os.environ.update(credentials(settings))
        except LegacyError as e:
            sys.stderr.write(f"skydns legacy: {e}\n")
            return 2
        for note in settings.notes:
            sys.stderr.write(f"note: {note}\n")
        fd, path = tempfile.mkstemp(prefix="skydns-legacy-", suffix=".Corefile")  # 0600, and gone at exit
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            run_twistd(["-c", path] + (["--systemd"] if settings.systemd else []) + rest)
        finally:
            os.unlink(path)
        return 0


migrate_command = MigrateCommand()
legacy_command = LegacyCommand()
