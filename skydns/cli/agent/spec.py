"""What the registration agent registers: services from its command line or a small YAML file, checked.

One service::

    skydns agent --etcd http://127.0.0.1:2379 web.skydns.local --address 10.0.0.1 --port 80 \\
        --check http:/healthz --interval 5s

Several, from a file (the same fields)::

    - name: web.skydns.local
      address: 10.0.0.1
      port: 80
      check: http:/healthz
    - name: db.skydns.local
      address: 10.0.0.2
      port: 5432
      check: "command:pg_isready -h 10.0.0.2"
      interval: 10s

``check`` is ``tcp`` (connect to the port; the default with a port), ``tcp:PORT``,
``http:PATH`` or ``https:PATH`` (GET, expecting ``status``, 200 by default), ``icmp``,
``command:PROGRAM ARGS...`` (healthy when it exits 0; no shell) or ``none`` (always
registered; the default without a port). Timing as the scanner's: ``interval`` (1 s to
1 h), ``timeout`` (at most 30 s, below the interval), ``rise``, ``fall``.
"""
from __future__ import annotations

import ipaddress
import json
import shlex
import zlib
from dataclasses import dataclass, field

import dns.name

from skydns.clients.probes import MAX_INTERVAL, MAX_PATH, MAX_TIMEOUT, MIN_INTERVAL, Probe, Timing
from skydns.config.corefile.dispenser import parse_duration
from skydns.msg import path

FIELDS = ("name", "address", "port", "priority", "weight", "text", "ttl", "check", "status", "interval", "timeout",
          "rise", "fall")
#: Services one agent may register.
MAX_SERVICES = 1000


class SpecError(ValueError):
    """A service that cannot be registered; the message names it and the field."""


@dataclass(frozen=True)
class Service:
    name: str  # absolute, lower case
    address: str
    port: int = 0
    priority: int | None = None
    weight: int | None = None
    text: str = ""
    ttl: int | None = None
    probe: Probe | None = None  # None: not checked (always registered)
    timing: Timing = field(default_factory=Timing)

    def key(self, prefix: str) -> str:
        """Its own key below the name: ``x`` and a number from the address and port, so that agents on several
        machines registering one name each write their own address (a leaf, as the records API's)."""
        leaf = zlib.crc32(f"{self.address}|{self.port}".encode())
        return f"{path.name_to_key(self.name, prefix)}/x{leaf}"

    def value(self) -> str:
        """The SkyDNS service JSON written at the key."""
        svc: dict = {"host": self.address}
        for name in ("port", "priority", "weight", "text", "ttl"):
            v = getattr(self, name)
            if v not in (None, 0, ""):
                svc[name] = v
        return json.dumps(svc, sort_keys=True)


def service(fields: dict, where: str = "") -> Service:
    """A :class:`Service` from its fields (flags or a file's entry); SpecError naming ``where`` and the field."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise SpecError(f"{where}unknown field {unknown[0]!r} (expected {', '.join(FIELDS)})")
    name = fields.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}a service needs a name")
    where = f"{where}{name}: "
    try:
        text_name = dns.name.from_text(name).to_text().lower()
    except Exception as e:
        raise SpecError(f"{where}not a domain name ({e})") from e
    address = fields.get("address")
    try:
        ip = ipaddress.ip_address(str(address))
    except ValueError as e:
        raise SpecError(f"{where}address {address!r} is not an IP address") from e
    port = _int(fields, "port", 0, 0, 65535, where)
    timing = Timing(
        interval=_seconds(fields, "interval", Timing.interval, MIN_INTERVAL, MAX_INTERVAL, where),
        timeout=_seconds(fields, "timeout", Timing.timeout, 0.001, MAX_TIMEOUT, where),
        rise=_int(fields, "rise", Timing.rise, 1, 100, where), fall=_int(fields, "fall", Timing.fall, 1, 100, where))
    if timing.timeout >= timing.interval:
        raise SpecError(f"{where}timeout {timing.timeout:g}s must be below the interval {timing.interval:g}s")
    text = fields.get("text", "")
    if not isinstance(text, str) or len(text) > 4096:
        raise SpecError(f"{where}text must be a string of at most 4096 characters")
    return Service(text_name, str(ip), port, _int(fields, "priority", None, 0, 65535, where),
                   _int(fields, "weight", None, 0, 65535, where), text,
                   _int(fields, "ttl", None, 1, 86400, where),
                   check(fields.get("check"), port, _int(fields, "status", 200, 100, 599, where), where), timing)


def check(text, port: int, status: int = 200, where: str = "") -> Probe | None:
    """The probe a ``check`` string asks for (see the module's docstring); None for ``none``."""
    if text is None:
        return Probe("tcp", port) if port else None
    if not isinstance(text, str):
        raise SpecError(f"{where}check must be a string")
    kind, _, rest = text.partition(":")
    kind = kind.lower()
    if kind == "none" and not rest:
        return None
    if kind == "tcp":
        number = int(rest) if rest.isdigit() else port
        if not rest and not port or rest and not rest.isdigit() or not 0 < number < 65536:
            raise SpecError(f"{where}check tcp needs a port (tcp:PORT, or the service's --port)")
        return Probe("tcp", number)
    if kind in ("http", "https"):
        url_path = rest or "/"
        if not url_path.startswith("/") or len(url_path) > MAX_PATH or any(c in url_path for c in "\r\n\x00 "):
            raise SpecError(f"{where}check {kind}:PATH needs a path starting with '/' without spaces")
        return Probe(kind, port, url_path, status)
    if kind == "icmp" and not rest:
        return Probe("icmp")
    if kind == "command":
        try:
            argv = tuple(shlex.split(rest))
        except ValueError as e:
            raise SpecError(f"{where}check command: {e}") from e
        if not argv:
            raise SpecError(f"{where}check command:PROGRAM ARGS... needs a program")
        return Probe("command", command=argv)
    raise SpecError(f"{where}check {text!r} is not tcp[:PORT], http:PATH, https:PATH, icmp, command:PROGRAM "
                    "ARGS... or none")


def from_file(path_: str) -> list[Service]:
    """The services of a YAML file: a list of entries (or ``{services: [...]}``)."""
    import yaml

    try:
        with open(path_) as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise SpecError(f"{path_}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise SpecError(f"{path_}: not YAML ({str(e).splitlines()[0]})") from e
    if isinstance(data, dict) and "services" in data:
        data = data["services"]
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise SpecError(f"{path_}: expected a list of services (name, address, port, check...)")
    if len(data) > MAX_SERVICES:
        raise SpecError(f"{path_}: {len(data)} services, at most {MAX_SERVICES}")
    return [service({str(k).lower(): v for k, v in e.items()}, f"{path_}: ") for e in data]


def _int(fields: dict, name: str, default, low: int, high: int, where: str):
    v = fields.get(name, default)
    if v is None:
        return None
    if isinstance(v, str) and v.strip().isdigit():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise SpecError(f"{where}{name} must be a whole number from {low} to {high}, got {v!r}")
    return v


def _seconds(fields: dict, name: str, default: float, low: float, high: float, where: str) -> float:
    v = fields.get(name)
    if v is None:
        return default
    try:
        seconds = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else parse_duration(str(v))
    except (ValueError, TypeError) as e:
        raise SpecError(f"{where}{name} {v!r} is not a duration") from e
    if not low <= seconds <= high:
        raise SpecError(f"{where}{name} must be from {low:g}s to {high:g}s, got {v!r}")
    return seconds
