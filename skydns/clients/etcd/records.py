"""Records in etcd, in SkyDNS's key layout: the :class:`~skydns.interfaces.IRecordStore` of etcd.

Replacing a record removes everything at and below its name and writes the
new keys in one etcd transaction, so a reader never sees half of it. The
methods block: the records API runs them in threads, ``skydnsctl`` directly.
"""
from __future__ import annotations

import builtins
import json

from zope.interface import implementer

from skydns.clients.etcd.connection import denied
from skydns.clients.etcd.history import History, note, note_key
from skydns.interfaces import IRecordHistory, IRecordStore
from skydns.msg import path
from skydns.msg.records import LEAF, MAX_TXN_OPS, Keys, RecordError, TooLarge, Writes

__all__ = ["EtcdRecords", "LEAF"]


@implementer(IRecordStore, IRecordHistory)
class EtcdRecords:
    """Records in etcd under ``prefix`` (a blocking pyetcd client). Keys at or below ``reserved`` (SkyDNS's
    ``config`` key, a health monitor's status prefix) are never written or deleted as records."""

    def __init__(self, client, prefix: str = "/skydns", reserved=()):
        self.client = client
        self.prefix = "/" + prefix.strip("/")
        self.reserved = ["/" + r.strip("/") for r in reserved]

    def _writable(self, key: str) -> str:
        for r in self.reserved:
            if key == r or key.startswith(r + "/"):
                raise RecordError(f"{key} is not a record: {r} is reserved (configuration, health status)")
        return key

    def _record_of(self, key: str) -> str | None:
        labels = path.key_labels(key, self.prefix)
        if labels is None:
            return None
        if len(labels) > 1 and LEAF.match(labels[-1]):
            labels = labels[:-1]
        return path.labels_to_name(labels)

    def entries(self, name: str) -> tuple[list[dict], int | None]:
        found, compacted = History(self.client, self.prefix).entries(name)
        return [vars(e) for e in found], compacted

    def show(self, name: str) -> list[dict] | None:
        key = path.name_to_key(name, self.prefix)
        found = []
        value, _meta = self.client.get(key)
        if value is not None:
            found.append(json.loads(value))
        for value, meta in self.client.get_prefix(key + "/"):
            if self._record_of(meta.key.decode()) == name:
                found.append(json.loads(value))
        return found or None

    def list(self, under: str | None = None, limit: int = 100, after: str | None = None):
        """Records (name, services) in name order of their keys; and the cursor for the next page."""
        start = path.name_to_key(under, self.prefix) if under else self.prefix
        end = (start + "0").encode()  # "/" + 1
        begin = (after + "\x00").encode() if after else (start + "/").encode()
        records: dict[str, list] = {}
        last_key = None
        while len(records) <= limit:
            resp = self.client.get_range_response(begin, end, limit=500)
            for kv in resp.kvs:
                key = kv.key.decode("utf-8", "replace")
                name = self._record_of(key)
                if name is None:
                    continue
                if name not in records and len(records) == limit:
                    return list(records.items()), last_key
                try:
                    records.setdefault(name, []).append(json.loads(kv.value))
                except ValueError:
                    records.setdefault(name, []).append({"invalid": kv.value.decode("utf-8", "replace")})
                last_key = key
            if not resp.more or not resp.kvs:
                break
            begin = resp.kvs[-1].key + b"\x00"
        return list(records.items()), None

    def _own_keys(self, name: str) -> Keys:
        """The keys that make up a record: its name's key and the x<n> leaves below it."""
        key = path.name_to_key(name, self.prefix)
        keys = []
        value, _ = self.client.get(key)
        if value is not None:
            keys.append(key)
        for _value, meta in self.client.get_prefix(key + "/", keys_only=True):
            k = meta.key.decode("utf-8", "replace")
            if self._record_of(k) == name:
                keys.append(k)
        return keys

    def replace(self, writes: Writes, ttl: int | None = None, author: str | None = None) -> None:
        """Remove each written record's own keys and write the new ones, in one transaction (with a note of
        ``author`` per name: :mod:`skydns.clients.etcd.history`)."""
        t = self.client.transactions
        puts = {}
        for name, leaf, service in writes:
            puts[self._writable(path.name_to_key(name, self.prefix) + (f"/{leaf}" if leaf else ""))] = \
                json.dumps(service)
        ops: list = []
        for name in dict.fromkeys(n for n, _, _ in writes):
            # etcd refuses a delete and a put of one key in a transaction: a put overwrites anyway.
            ops.extend(t.delete(k) for k in self._own_keys(name) if k not in puts)
        names = list(dict.fromkeys(n for n, _, _ in writes)) if author else []
        if len(ops) + len(puts) + len(names) > MAX_TXN_OPS:
            raise TooLarge(f"the change takes {len(ops) + len(puts) + len(names)} etcd operations; one "
                           f"transaction takes {MAX_TXN_OPS}")
        lease = self.client.lease(ttl) if ttl else None
        ops.extend(t.put(k, v, lease=lease) for k, v in puts.items())
        ops.extend(note(t, self.prefix, n, author, "replace") for n in names if author)
        ok, _ = self._transaction(ops, list(puts) + [note_key(self.prefix, n) for n in names])
        if not ok:
            raise RecordError("etcd refused the transaction")

    def delete(self, name: str, author: str | None = None) -> bool:
        """Remove a record's own keys (names below it are other records); False if it had none."""
        keys = [self._writable(k) for k in self._own_keys(name)]
        if not keys:
            return False
        t = self.client.transactions
        ops = [t.delete(k) for k in keys] + ([note(t, self.prefix, name, author, "delete")] if author else [])
        self._transaction(ops, keys + ([note_key(self.prefix, name)] if author else []))
        return True

    def _transaction(self, ops: builtins.list, keys: builtins.list[str]):
        """Run ``ops`` in one transaction; a permission refusal becomes a :class:`Refused` naming ``keys``."""
        try:
            return self.client.transaction(compare=[], success=ops, failure=[])
        except Exception as e:
            refused = denied(self.client, e, keys)
            if refused is not None:
                raise refused from None
            raise
