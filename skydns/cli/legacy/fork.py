"""The Kubernetes fork's INI files (its README): ``skydns migrate -config-file FILE`` reads them too.

The fork configured each of its programs with a file: ``skydns.conf`` (sections ``[Dns]``,
``[Log]``, ``[Etcd]``, ``[Fun]``, ``[Stats]``), skydns-kubeapi's (``[General]``,
``[Kube2Skydns]``, ``[SkydnsApi]``), the scanner's (``[General]``, ``[Check]``, ``[Etcd]``)
and the scheduler's. Each file is recognised by its sections; each key becomes a setting
(:class:`~skydns.cli.legacy.settings.Settings`, its ``fork`` for the plugins SkyDNS
did not have: the health monitor, the records API, the scanner, the fork's load balancing),
is noted as not needed, or is refused with the reason.
"""
from __future__ import annotations

import configparser

from skydns.cli.legacy.settings import ForkSettings, LegacyError, Settings

#: Keys that need nothing in skydns, and why (the note printed).
NOT_NEEDED = {
    "log-dir": "skydns logs to standard output; twistd's --logfile FILE writes a file",
    "log-level": "skydns logs at info; the log plugin logs queries",
    "log-to-stdio": "skydns logs to standard output",
    "core": "twistd runs one process; skydns --workers N runs several",
    "host": "the API answers on api-address",
    "heartbeat-interval": "scanners register in etcd under a lease (scanner { lease })",
    "report-path": "scanners share the addresses through etcd themselves",
    "heart-path": "scanners share the addresses through etcd themselves",
    "lock-path": "scanners share the addresses through etcd themselves",
    "schedule-interval": "no scheduler is needed: scanners share the addresses themselves",
    "agent-downtime": "no scheduler is needed: a scanner's addresses move when its lease ends",
    "force-lock-time": "no scheduler is needed",
    "ping-timeout": "ICMP checks use the scanner's timeout",
    "ping-count": "one echo per check; fall and rise count failures and successes",
    "enable-icmp": "addresses without a port get ICMP checks where the kernel allows unprivileged ping",
    "scann-ports": "each address is checked on its service's port (or its health field)",
    "statsserverauthtoken": "metrics have no token: keep them on loopback or behind a firewall",
    "api-enable": "",
    "enable-check": "",
    "kube-enable": "",
}


def _value(raw: str) -> str:
    v = raw.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
        v = v[1:-1]
    return v.strip()


def _yes(v: str) -> bool:
    return v.lower() in ("yes", "true", "1", "on")


def read(path: str, settings: Settings) -> None:
    """Apply the fork's INI file at ``path`` to ``settings`` (LegacyError naming the file and key)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, comment_prefixes=("#", ";"))
    parser.optionxform = str.lower  # type: ignore[assignment,method-assign]
    try:
        with open(path) as f:
            parser.read_file(f)
    except OSError as e:
        raise LegacyError(f"-config-file {path}: {e.strerror}") from e
    except configparser.Error as e:
        raise LegacyError(f"-config-file {path}: not an INI file ({str(e).splitlines()[0]})") from e
    sections = {s.lower(): {k: _value(v) for k, v in parser.items(s)} for s in parser.sections()}
    fork = settings.fork
    for section, values in sections.items():
        for key, value in values.items():
            where = f"{path}: [{section}] {key}"
            try:
                _apply(section, key, value, settings, fork, sections)
            except LegacyError as e:
                raise LegacyError(f"{where}: {e}") from e
            except ValueError as e:
                raise LegacyError(f"{where} = {value!r}: {e}") from e


def _apply(section: str, key: str, value: str, s: Settings, fork: ForkSettings, sections: dict) -> None:
    scanner = "check" in sections  # the scanner's file: its [General] and [Etcd] are the scanner's
    if key in ("dns-domain", "domain"):
        s.set("domain", value, key)
    elif key == "dns-addr":
        s.set("dns_addr", value, key)
    elif key == "nameservers":
        if value:
            s.set("nameservers", value, key)
    elif key == "subdomainservers":
        if value:
            raise LegacyError("forwarding subdomains to their own servers is a Corefile block each "
                              "(SUBDOMAIN { forward . SERVER }): write them by hand")
    elif key == "cachesize":
        fork.answer_cache = int(value)
    elif key in ("ip-monitor-path", "status-path"):
        fork.monitor = value
    elif key in ("etcd-servers", "etcd-server", "etcd-machine"):
        s.set("machines", value, key)
    elif key in ("etcd-certfile", "tls-pem"):
        if value:
            s.set("tls_pem", value, key)
    elif key in ("etcd-keyfile", "tls-key"):
        if value:
            s.set("tls_key", value, key)
    elif key in ("etcd-cafile", "ca-cert"):
        if value:
            s.set("ca_cert", value, key)
    elif key in ("random-one", "hone-one"):
        if _yes(value):
            policy = "random_one" if key == "random-one" else "sticky"
            if fork.policy not in ("", policy):
                raise LegacyError("random-one and hone-one are both on: choose one")
            fork.policy = policy
    elif key == "statsserver":
        if value:
            fork.metrics_address = value
    elif key == "kube-enable":
        fork.kubernetes = _yes(value)
    elif key in ("kube-master-url", "kube-master", "kube-api"):
        if value:
            fork.kube_endpoint = value
    elif key in ("kubecfg-file", "kube-config", "kubeconfig"):
        if value:
            fork.kubeconfig = value
    elif key == "api-address":
        if _yes(sections.get("skydnsapi", {}).get("api-enable", "no")):
            fork.api_address = value
    elif key == "skydns-auth":
        fork.api_token = value
    elif key == "hostname" and scanner:
        fork.checks["id"] = value
    elif key == "enable-check" and scanner:
        fork.checks["enabled"] = _yes(value)
    elif key in ("check-timeout", "check-interval"):
        seconds = int(value)
        if not 0 < seconds <= 3600:
            raise ValueError("seconds from 1 to 3600")
        fork.checks[key.split("-")[1]] = seconds
    elif key in NOT_NEEDED:
        if NOT_NEEDED[key]:
            s.notes.append(f"{key} is not needed: {NOT_NEEDED[key]}")
    else:
        s.notes.append(f"[{section}] {key} is not used by skydns")
