"""Dynamic updates to the etcd zones (IZoneEditor): records in, SkyDNS services out, one transaction.

An :class:`Edit` reads the keys of the names an update touches (each name's own key
and its ``x<n>`` leaves, the records API's layout) with etcd's revision at the time,
lets the update change them as records, and commits: the keys of removed records are
deleted and new records written as new keys, in one transaction whose compares fail
when any key at or below those names changed since the read (the update is then read
and tried again), so a prerequisite is never judged on data that is gone.

A record becomes the service SkyDNS answers it from: A/AAAA ``{"host": ip}``, CNAME and
PTR ``{"host": target}``, SRV ``{"host": target, "port", "priority", "weight"}``, MX
``{"host": target, "mail": true, "priority"}``, TXT ``{"text": ...}``, each with the
record's ``ttl``. Answers then follow
SkyDNS's rules: an address also answers SRV (port 0), SRV weights are shares of 100
among the services of a priority.
"""
from __future__ import annotations

import json
from typing import Any

import dns.rdatatype
from twisted.internet import threads
from zope.interface import implementer

from skydns.clients.etcd.connection import denied
from skydns.clients.etcd.history import note
from skydns.clients.etcd.watch import prefix_end
from skydns.interfaces import IZoneEdit
from skydns.msg import path
from skydns.msg.records import LEAF, MAX_TXN_OPS, TooLarge
from skydns.msg.service import InvalidService, from_json
from skydns.plugin.etcd.zonedata import encode

T = dns.rdatatype.RdataType


def service_of(rdata, ttl: int | None = None) -> dict:
    """The service a record is stored as (with the record's ``ttl`` when given)."""
    svc = _service_of(rdata)
    if ttl is not None:
        svc["ttl"] = ttl
    return svc


def _service_of(rdata) -> dict:
    t = rdata.rdtype
    if t in (T.A, T.AAAA):
        return {"host": rdata.address}
    if t in (T.CNAME, T.PTR):
        return {"host": rdata.target.to_text().lower()}
    if t == T.SRV:
        return {"host": rdata.target.to_text().lower(), "port": rdata.port, "priority": rdata.priority,
                "weight": rdata.weight}
    if t == T.MX:
        return {"host": rdata.exchange.to_text().lower(), "mail": True, "priority": rdata.preference}
    if t == T.TXT:
        return {"text": b"".join(rdata.strings).decode("utf-8", "replace")}
    raise ValueError(f"records of type {dns.rdatatype.to_text(t)} are not stored")


def primary_type(svc: dict) -> int:
    """The record type a service stands for (what deleting that type's RRset removes)."""
    host = svc.get("host")
    if not host:
        return T.TXT
    if svc.get("mail"):
        return T.MX
    if ":" in host:
        return T.AAAA
    if host.replace(".", "").isdigit():
        return T.A
    return T.SRV if svc.get("port") else T.CNAME


@implementer(IZoneEdit)
class Edit:
    def __init__(self, source, zone: str, reads: dict):
        self.source = source
        self.zone = zone
        self.prefix = source.copy.prefix
        #: name -> [(key or None for a new one, service dict)], what the name will hold
        self.planned: dict[str, list[tuple[str | None, dict]]] = {}
        self.read_keys: list[str] = []
        self.rewritten: set[str] = set()  # keys read whose service changed (a record's new TTL)
        self.revisions: dict[str, int] = {}  # name -> etcd's revision when it was read
        for name, (kvs, revision) in reads.items():
            self.planned[name] = [(key, svc) for key, svc in kvs]
            self.read_keys.extend(key for key, _ in kvs)
            self.revisions[name] = revision

    def _services(self, name: str) -> list:
        out = []
        for _key, svc in self.planned.get(name, []):
            try:
                out.append(from_json(json.dumps(svc), name))
            except InvalidService:
                continue
        return out

    def rrs(self, name: str) -> tuple:
        if name == self.zone:
            return self.source.rrs(self.zone, name)  # the apex is not edited by updates (SOA, NS)
        return encode(self.source.zone_data.records(name, self._services(name)))

    def add(self, name: str, rdata, ttl: int | None = None) -> None:
        svc = service_of(rdata, ttl)
        entries = self.planned.setdefault(name, [])
        for i, (key, old) in enumerate(entries):
            if _same(old, service_of(rdata)):  # already there: it takes the new TTL (RFC 2136 3.4.2.2)
                if ttl is not None and old.get("ttl") != ttl:
                    entries[i] = (key, {**old, "ttl": ttl})
                    if key is not None:
                        self.rewritten.add(key)
                return
        has_cname = any(primary_type(s) == T.CNAME for _, s in entries)
        if rdata.rdtype == T.CNAME and entries and not has_cname:
            return  # a CNAME cannot join other data
        if rdata.rdtype != T.CNAME and has_cname:
            return  # nor other data a CNAME
        if rdata.rdtype == T.CNAME:
            entries[:] = [e for e in entries if primary_type(e[1]) != T.CNAME]  # a CNAME replaces the CNAME
        entries.append((None, svc))

    def delete_rrset(self, name: str, rdtype: int) -> None:
        if name in self.planned:
            self.planned[name] = [e for e in self.planned[name] if primary_type(e[1]) != rdtype]

    def delete_rr(self, name: str, rdata) -> None:
        svc = service_of(rdata)
        if name in self.planned:
            self.planned[name] = [e for e in self.planned[name] if not _same(e[1], svc)]

    def delete_name(self, name: str) -> None:
        if name in self.planned:
            self.planned[name] = []

    def commit(self, author: str | None = None):
        return threads.deferToThreadPool(self.source.copy.reactor, self.source.copy.reactor.getThreadPool(),
                                         self._commit, author)

    def _commit(self, author: str | None = None) -> bool:
        client = self.source.store().client
        t = client.transactions
        compares: list = []
        ops: list = []
        for name, entries in self.planned.items():
            key = path.name_to_key(name, self.prefix)
            # nothing at or below the name changed since it was read
            compares.append(t.mod(key, range_end=prefix_end(key.encode())) < self.revisions[name] + 1)
            kept = {k: svc for k, svc in entries if k is not None}
            original = [k for k in self.read_keys if k == key or k.startswith(key + "/")]
            for k in original:
                compares.append(t.version(k) > 0)
                if k not in kept:
                    ops.append(t.delete(k))
                elif k in self.rewritten:
                    ops.append(t.put(k, json.dumps(kept[k])))
            new = [svc for k, svc in entries if k is None]
            used = {k.rsplit("/", 1)[1] for k in original if k != key}
            if new and not original and len(new) == 1:
                ops.append(t.put(key, json.dumps(new[0])))
                continue
            n = 0
            for svc in new:
                n += 1
                while f"x{n}" in used:
                    n += 1
                ops.append(t.put(f"{key}/x{n}", json.dumps(svc)))
        if not ops:
            return True
        if author:
            ops.extend(note(t, self.prefix, name, author, "update") for name in self.planned)
        if len(ops) > MAX_TXN_OPS or len(compares) > MAX_TXN_OPS:
            raise TooLarge(f"{max(len(ops), len(compares))} etcd operations, one transaction takes {MAX_TXN_OPS}")
        try:
            ok, _ = client.transaction(compare=compares, success=ops, failure=[])
        except Exception as e:
            refused = denied(client, e, [path.name_to_key(n, self.prefix) for n in self.planned])
            if refused is not None:
                raise refused from None
            raise
        return bool(ok)


def _same(a: dict, b: dict) -> bool:
    """Is the stored service ``a`` the record ``b`` (as service_of makes it)?"""
    return all(a.get(k) == v for k, v in b.items()) and primary_type(a) == primary_type(b)


def read(source, names: list[str]) -> dict:
    """In a thread: each name's own key and x<n> leaves as ``(key, service dict)``, with etcd's revision."""
    client = source.store().client
    prefix = source.copy.prefix
    out: dict[str, tuple] = {}
    for name in names:
        key = path.name_to_key(name, prefix)
        resp = client.get_prefix_response(key)
        kvs: list[tuple[str, Any]] = []
        for kv in resp.kvs:
            k = kv.key.decode("utf-8", "replace")
            if k != key and not (k.startswith(key + "/") and LEAF.match(k[len(key) + 1:])):
                continue
            try:
                kvs.append((k, json.loads(kv.value)))
            except ValueError:
                continue
        out[name] = (kvs, resp.header.revision)
    return out
