"""Records as people maintain them (the Kubernetes fork's API): bodies in, SkyDNS services out.

A record is a name and what it holds. Bodies, as in the fork's API:

* ``{"type": "A", "ips": ["10.0.0.1", ...]}`` (or ``"AAAA"``): one key per
  address under the name, ``<name>/x1``, ``<name>/x2``...
* ``{"type": "cname", "alias": "other"}``: makes ``other`` (relative names are
  in the zone) a CNAME for the record's name;
* the fork's other typed bodies: ``{"type": "MX", "mailHost": NAME[, "priority": N]}``,
  ``{"type": "TXT", "text": "..."}``, ``{"type": "SRV", "host": TARGET, "ports": [80, 443]
  [, "priority": N, "weight": N]}`` (one key per port), and ``{"type": "NS", "nsHost": IP}``
  (SkyDNS's nameserver keys: ``<label>.ns.dns.<zone>``, its first label the record's);
* SkyDNS's own service JSON, ``{"host": ..., "port": ...}``, or a list of them.

What a body writes is a list of ``(name, leaf, service)``: a record's services live
at its name and, for several, at leaves ``x1``, ``x2``... below it (:data:`LEAF`).
A store (:class:`skydns.interfaces.IRecordStore`, etcd's is
:class:`skydns.clients.etcd.records.EtcdRecords`) writes them.
"""
from __future__ import annotations

import ipaddress
import json
import re

import dns.name

from skydns.msg.service import InvalidService, from_json

LEAF = re.compile(r"x\d+\Z")
#: The most services one body may hold: each is a key written in one etcd transaction (128 operations,
#: the keys it replaces deleted in the same one).
MAX_RECORDS = 100


class RecordError(ValueError):
    """A request that cannot be applied; the message says why (HTTP 400)."""


class TooLarge(RecordError):
    """A change larger than the store takes at once (an etcd transaction holds 128 operations)."""


#: The operations one etcd transaction may hold (etcd's --max-txn-ops default).
MAX_TXN_OPS = 128


#: Names under these are absolute with or without a final dot: a reverse name is never in a forward zone.
ABSOLUTE = (".in-addr.arpa", ".ip6.arpa")


def normalise_name(name: str, zone: str) -> str:
    """Lower-case absolute name. Without a final dot a name is relative to ``zone``, unless it
    already ends with the zone (``cctv2.skydns.local`` is ``cctv2.skydns.local.``) or is a reverse
    name (``125.1.0.10.in-addr.arpa``)."""
    if not isinstance(name, str) or not name or len(name) > 253:
        raise RecordError(f"bad name {name!r}")
    bare = zone.rstrip(".").lower()
    lower = name.lower()
    if name.endswith(".") or not bare or lower == bare or lower.endswith("." + bare) or lower.endswith(ABSOLUTE):
        text = name if name.endswith(".") else name + "."
    else:
        text = f"{name}.{bare}."
    try:
        parsed = dns.name.from_text(text)
    except Exception as e:
        raise RecordError(f"bad name {name!r}: {e}") from e
    out = parsed.to_text().lower()
    for label in out.rstrip(".").split("."):
        if not label or label in ("*", "any") or not re.fullmatch(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?", label):
            raise RecordError(f"bad name {name!r}: label {label!r} (letters, digits, - and _ only)")
    return out


#: What a body writes: ``(record name, leaf or None, service dict)`` (names in the class below
#: would read ``list`` as its method).
Writes = list[tuple[str, "str | None", dict]]
Keys = list[str]


def entries(name: str, body, zone: str) -> Writes:
    """What a body writes: ``(record name, leaf or None, service dict)``; RecordError if it is wrong."""
    if isinstance(body, list):
        if not body or len(body) > MAX_RECORDS:
            raise RecordError(f"a list of 1 to {MAX_RECORDS} services is expected")
        return [(name, f"x{i}", _service(name, b)) for i, b in enumerate(body, 1)]
    if not isinstance(body, dict):
        raise RecordError("the body must be a JSON object (or a list of services)")
    kind = body.get("type")
    if kind is None:
        return [(name, None, _service(name, body))]
    if not isinstance(kind, str):
        raise RecordError("type must be a string")
    kind = kind.upper()
    if kind in ("A", "AAAA"):
        ips = body.get("ips")
        if not isinstance(ips, list) or not ips or len(ips) > MAX_RECORDS:
            raise RecordError(f"type {kind} needs \"ips\": a list of 1 to {MAX_RECORDS} addresses")
        out: Writes = []
        for i, ip in enumerate(ips, 1):
            try:
                addr = ipaddress.ip_address(ip if isinstance(ip, str) else "")
            except ValueError:
                raise RecordError(f"bad IP address {ip!r}") from None
            if (addr.version == 4) != (kind == "A"):
                raise RecordError(f"{ip} is not an IPv{4 if kind == 'A' else 6} address (type {kind})")
            out.append((name, f"x{i}", {"host": str(addr)}))
        return out
    if kind == "CNAME":
        alias = body.get("alias")
        if not isinstance(alias, str):
            raise RecordError("type cname needs \"alias\": the name that will point at this one")
        return [(normalise_name(alias, zone), None, {"host": name})]
    if kind == "MX":
        host = body.get("mailHost")
        if not isinstance(host, str) or not host:
            raise RecordError("type MX needs \"mailHost\": the mail server's name")
        return [(name, None, _service(name, {"host": _target(host, zone), "mail": True,
                                             "priority": _number(body, "priority", 10)}))]
    if kind == "TXT":
        text = body.get("text")
        if not isinstance(text, str):
            raise RecordError("type TXT needs \"text\": a string")
        return [(name, None, _service(name, {"text": text}))]
    if kind == "SRV":
        host, ports = body.get("host"), body.get("ports")
        if not isinstance(host, str) or not host:
            raise RecordError("type SRV needs \"host\": the target (a name or an address)")
        if not isinstance(ports, list) or not ports or len(ports) > MAX_RECORDS:
            raise RecordError(f"type SRV needs \"ports\": a list of 1 to {MAX_RECORDS} port numbers")
        target = host if _is_address(host) else _target(host, zone)
        extra = {k: _number(body, k, 10) for k in ("priority", "weight") if k in body}
        return [(name, f"x{i}", _service(name, {"host": target, "port": _port(p), **extra}))
                for i, p in enumerate(ports, 1)]
    if kind == "NS":
        host = body.get("nsHost")
        if not isinstance(host, str) or not _is_address(host):
            raise RecordError("type NS needs \"nsHost\": the nameserver's address")
        bare = zone.rstrip(".")
        label = name[: -len(bare) - 2] if bare and name.endswith("." + bare + ".") else name.rstrip(".")
        label = label.split(".")[0]
        return [(f"{label}.ns.dns.{bare}." if bare else f"{label}.ns.dns.", None, {"host": host})]
    raise RecordError(f"unknown type {body.get('type')!r} (expected A, AAAA, cname, MX, TXT, SRV, NS, "
                      "or a service object)")


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _target(text: str, zone: str) -> str:
    """A target name: absolute with a final dot or when it ends with the zone, else in the zone."""
    return normalise_name(text, zone)


def _number(body: dict, key: str, default: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise RecordError(f"{key} must be a number from 0 to 65535")
    return value


def _port(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise RecordError(f"bad port {value!r} (1 to 65535)")
    return value


def _service(name: str, body) -> dict:
    try:
        raw = json.dumps(body)
        from_json(raw, name)
    except (InvalidService, TypeError, ValueError) as e:
        raise RecordError(f"bad service: {e}") from e
    return body


def describe(services: list[dict]) -> dict:
    """The shortest body that says what a record holds: the fork's typed forms (A/AAAA with ips, MX with
    mailHost, TXT with text, SRV with ports) when the services are exactly one of them."""
    hosts = [str(s.get("host")) for s in services]
    if services and all(set(s) == {"host"} for s in services):
        try:
            addrs = [ipaddress.ip_address(h) for h in hosts]
        except (ValueError, TypeError):
            addrs = None
        if addrs and len({a.version for a in addrs}) == 1:
            return {"type": "A" if addrs[0].version == 4 else "AAAA", "ips": [str(a) for a in addrs]}
    if len(services) == 1 and set(services[0]) == {"text"}:
        return {"type": "TXT", "text": services[0]["text"]}
    if len(services) == 1 and services[0].get("mail") is True and set(services[0]) <= {"host", "mail", "priority"}:
        return {"type": "MX", "mailHost": services[0]["host"], "priority": services[0].get("priority", 10)}
    if len(services) > 1 and len(set(hosts)) == 1 and all(
            "port" in s and set(s) <= {"host", "port", "priority", "weight"} for s in services):
        extra = {k: services[0][k] for k in ("priority", "weight") if k in services[0]}
        if all({k: s.get(k) for k in extra} == extra for s in services):
            return {"type": "SRV", "host": hosts[0], "ports": [s["port"] for s in services], **extra}
    return {"services": services}
