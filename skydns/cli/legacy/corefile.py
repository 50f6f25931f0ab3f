"""The Corefile that serves as SkyDNS (and the fork) did with given settings.

Whoever can write ``/skydns/config`` chooses values that end up in a Corefile, so every
value is checked before it is written there (a name is a name, a port a number, a file a
path: no spaces, braces, quotes, comments or ``{$VARIABLE}``), never interpolated, and the
Corefile is parsed before anything serves it. Secrets never go into it: etcd's username
and password reach the etcd plugin as ``$ETCD_USERNAME``/``$ETCD_PASSWORD``, the records
API's token as ``$SKYDNS_API_TOKEN`` (:func:`secrets`).
"""
from __future__ import annotations

import ipaddress
import os
import re

from skydns.cli.legacy.settings import LegacyError, Settings

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


def _upstream(value: str, what: str = "nameserver") -> str:
    """A nameserver ``IP[:PORT]`` (or ``[IPv6]:PORT``)."""
    _word(value, what)
    host, _, port = value.rpartition(":") if value.count(":") == 1 or value.startswith("[") else (value, "", "")
    try:
        ipaddress.ip_address(host.strip("[]"))
        if port and not 0 < int(port) < 65536:
            raise ValueError("port out of range")
    except ValueError as e:
        raise LegacyError(f"{what} {value!r} is not IP[:PORT]: {e}") from e
    return value


def _host_port(addr: str, what: str = "dns_addr") -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    try:
        number = int(port)
    except ValueError as e:
        raise LegacyError(f"{what} {addr!r} is not HOST:PORT") from e
    if host not in ("", "0.0.0.0", "::"):
        try:
            ipaddress.ip_address(host)
        except ValueError as e:
            raise LegacyError(f"{what} {addr!r}: {host!r} is not an IP address") from e
    if not 0 <= number < 65536:
        raise LegacyError(f"{what} {addr!r}: port out of range")
    return host, number


def corefile(s: Settings) -> str:
    """The Corefile that serves as SkyDNS did with these settings; every value checked (LegacyError)."""
    host, port = _host_port(s.dns_addr)
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
    if s.priority != 10:
        raise LegacyError(f"priority {s.priority}: skydns gives a service without a priority SkyDNS's default, "
                          "10; write the priority into those services instead")
    fork = s.fork
    lines = [f"# From SkyDNS's configuration (skydns migrate). dns_addr {s.dns_addr}, domain {domain}",
             f".:{port} {{"]
    if host not in ("", "0.0.0.0", "::"):
        lines.append(f"    bind {host}")
    if s.verbose:
        lines.append("    log")
    if os.environ.get("PROMETHEUS_PORT"):
        lines.append(f"    prometheus :{os.environ['PROMETHEUS_PORT']}")
    elif fork.metrics_address:
        _host_port(fork.metrics_address, "statsServer")
        lines.append(f"    prometheus {fork.metrics_address}")
    if fork.api_address:
        _host_port(fork.api_address, "api-address")
        lines.append(f"    api {fork.api_address}")  # the token: $SKYDNS_API_TOKEN (secrets())
    if fork.policy:
        lines.append(f"    loadbalance {fork.policy}")
    elif s.round_robin:
        lines.append("    loadbalance round_robin")
    if s.rcache > 0 or fork.answer_cache:
        ttl = s.rcache_ttl if s.rcache > 0 else 60
        lines += [f"    cache {ttl} {domain} {{", f"        success {s.rcache or fork.answer_cache}", "    }"]
    if s.dnssec:
        lines += [f"    dnssec {domain} {{", f"        key file {s.dnssec}", f"        cache_capacity {s.scache}",
                  "    }"]
    if s.stubzones:
        lines.append(f"    stub {domain}")
    lines += _etcd(s, domain)
    lines += _scanner(fork.checks, bool(fork.monitor))
    lines += _kubewatch(fork)
    upstreams = " ".join(s.nameservers) if s.nameservers else "/etc/resolv.conf"
    lines.append(f"    forward . {upstreams} {{")
    if s.no_rec:
        lines.append("        no_rec")
    if s.ndots:
        lines.append(f"        ndots {s.ndots}")
    lines.append(f"        policy {'round_robin' if s.ns_rotate else 'sequential'}")
    if s.read_timeout:
        lines.append(f"        read_timeout {s.read_timeout}")
    lines += ["    }", "}"]
    text = "\n".join(lines) + "\n"
    _check_parses(text)
    return text


def _etcd(s: Settings, domain: str) -> list[str]:
    lines = [f"    etcd {domain} {{", f"        path /{s.path_prefix.strip('/')}",
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
    if s.fork.monitor:
        lines.append(f"        monitor {_word(s.fork.monitor, 'ip-monitor-path')}")
    return lines + ["    }"]


def _scanner(checks: dict, monitored: bool) -> list[str]:
    """The fork's dns-scanner as the scanner directive (it writes where the etcd monitor reads)."""
    if not checks or not checks.get("enabled", True):
        return []
    if not monitored:
        raise LegacyError("the scanner's file needs status-path (or ip-monitor-path): where it writes")
    lines = ["    scanner {"]
    if "interval" in checks:
        lines.append(f"        interval {checks['interval']}s")
    if "timeout" in checks:
        lines.append(f"        timeout {checks['timeout']}s")
    if checks.get("id"):
        lines.append(f"        id {_word(checks['id'], 'hostname')}")
    return lines + ["    }"]


def _kubewatch(fork) -> list[str]:
    """The fork's kube2skydns as the kubewatch directive (in the cluster, unless told where the API is)."""
    if not fork.kubernetes:
        return []
    if fork.kubeconfig:
        return ["    kubewatch {", f"        kubeconfig {_word(fork.kubeconfig, 'kubecfg-file')}", "    }"]
    if fork.kube_endpoint:
        if not fork.kube_endpoint.startswith(("http://", "https://")):
            raise LegacyError(f"kube-master-url {fork.kube_endpoint!r} must start with https:// (or http://)")
        return ["    kubewatch {", f"        endpoint {_word(fork.kube_endpoint, 'kube-master-url')}", "    }"]
    return ["    kubewatch"]


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


def secrets(s: Settings) -> dict[str, str]:
    """What the Corefile leaves to the environment: ``$ETCD_USERNAME``/``$ETCD_PASSWORD`` for the etcd plugin
    (the password from -password-file when given), ``$SKYDNS_API_TOKEN`` for the records API."""
    env: dict[str, str] = {}
    if s.username:
        env["ETCD_USERNAME"] = s.username
    if s.password:
        env["ETCD_PASSWORD"] = s.password
    if s.fork.api_address and s.fork.api_token:
        env["SKYDNS_API_TOKEN"] = s.fork.api_token
    return env
