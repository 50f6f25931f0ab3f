"""The ``health`` field of a service, read into what the scanner does with its address.

::

    "health": {"type": "http", "port": 8080, "path": "/healthz", "status": 200,
               "interval": "5s", "timeout": "1s", "rise": 2, "fall": 3}
    "health": {"type": "icmp"}
    "health": false                      # not probed

``type`` is ``tcp`` (default: connect to ``port``, the service's port by default),
``http`` or ``https`` (GET ``path``, default ``/``, expecting ``status``, default
200; HTTPS certificates are not verified), ``icmp`` (echo) or ``none``. The other
fields override the scanner's options for this address. Without the field, an
address with a port gets a TCP check and one without gets ICMP where the kernel
allows unprivileged ping sockets.

Whoever may write a service record chooses these values, so they are bounded
where they are read: ``interval`` from 1 s to 1 h, ``timeout`` at most 30 s and
below the interval (the scanner's own when the record gives none); a record
outside them is not probed, and the scanner logs the key and why.
"""
from __future__ import annotations

from skydns.clients.probes import MAX_INTERVAL, MAX_PATH, MAX_TIMEOUT, MIN_INTERVAL, Probe, Timing
from skydns.config.corefile.dispenser import parse_duration

TYPES = ("tcp", "http", "https", "icmp", "none")
FIELDS = ("type", "port", "path", "status", "interval", "timeout", "rise", "fall")
#: Checks one address may have (records naming it with other probes beyond these are answered, not probed).
MAX_CHECKS_PER_ADDRESS = 4


class BadHealth(ValueError):
    pass


def read(value, service_port: int, defaults: Timing, icmp: bool) -> tuple[Probe, Timing] | None:
    """(probe, timing) for a service's ``health`` value (None if absent); None when it is not probed.

    Raises BadHealth saying what is wrong.
    """
    if value is None:
        if service_port:
            return Probe("tcp", service_port), defaults
        return (Probe("icmp"), defaults) if icmp else None
    if value is False:
        return None
    if not isinstance(value, dict):
        raise BadHealth(f"expected an object or false, got {type(value).__name__}")
    f = {str(k).lower(): v for k, v in value.items()}
    unknown = sorted(set(f) - set(FIELDS))
    if unknown:
        raise BadHealth(f"unknown field {unknown[0]!r} (expected {', '.join(FIELDS)})")
    kind = str(f.get("type", "tcp")).lower()
    if kind not in TYPES:
        raise BadHealth(f"unknown type {kind!r} (expected {', '.join(TYPES)})")
    if kind == "none":
        return None
    port = _int(f, "port", service_port, 0, 65535)
    if kind == "tcp" and not port:
        raise BadHealth("a tcp check needs a port (in health or the service)")
    path = f.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_PATH or \
            any(c in path for c in "\r\n\x00 "):
        raise BadHealth(f"path must be a string starting with '/', without spaces or line breaks, at most "
                        f"{MAX_PATH} characters, got {path[:40]!r}" if isinstance(path, str) else
                        f"path must be a string starting with '/', got {path!r}")
    status = _int(f, "status", 200, 100, 599)
    interval = _duration(f, "interval", defaults.interval, MIN_INTERVAL, MAX_INTERVAL)
    timeout = _duration(f, "timeout", defaults.timeout, 0.0, MAX_TIMEOUT)
    if ("interval" in f or "timeout" in f) and not timeout < interval:
        raise BadHealth(f"timeout {timeout:g}s must be below the interval {interval:g}s")
    timing = Timing(interval, timeout, _int(f, "rise", defaults.rise, 1, 100), _int(f, "fall", defaults.fall, 1, 100))
    if kind == "icmp" and not icmp:
        raise BadHealth("icmp checks need unprivileged ping sockets, which this machine does not allow "
                        "(net.ipv4.ping_group_range)")
    return Probe(kind, port if kind != "icmp" else 0, path, status), timing


def _int(f: dict, name: str, default: int, low: int, high: int) -> int:
    v = f.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise BadHealth(f"{name} must be an integer from {low} to {high}, got {v!r}")
    return v


def _duration(f: dict, name: str, default: float, low: float, high: float) -> float:
    """A record's duration within [low, high] (seconds; low 0 means above 0); the default when absent."""
    v = f.get(name)
    if v is None:
        return default
    try:
        seconds = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else parse_duration(str(v))
    except (ValueError, TypeError, OverflowError) as e:
        raise BadHealth(f"{name} {str(v)[:40]!r} is not a duration") from e
    if seconds != seconds or seconds <= 0 or seconds < low or seconds > high:  # NaN fails every bound
        least = "above 0s" if not low else f"at least {low:g}s"
        raise BadHealth(f"{name} must be {least} and at most {high:g}s, got {str(v)[:40]!r}")
    return seconds
