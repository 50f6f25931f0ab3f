"""Who changed a name, when, and what the zone was at any revision etcd still keeps.

Every write through skydns's tools (the records API, ``skydnsctl``, RFC 2136 updates) puts,
in the same transaction as the change, a note at the name's key below ``PREFIX-history``:
``{"author": ..., "op": ..., "at": UNIX time}``. etcd keeps every version of a key until it
compacts its history, so a name's history is the versions of its note (read with a watch
from the oldest revision etcd has), and the name's records at each of those revisions are a
read at that revision. A diff of two revisions reads the records at both. A rollback writes
the records as they were, in one transaction, with a note of its own.

Writes made around skydns (``etcdctl put``) have no note: a diff shows them, a history does
not name their author. What etcd has compacted is gone, and the answers say so.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from skydns.msg import path
from skydns.msg.records import LEAF, MAX_TXN_OPS, RecordError, TooLarge


class Gone(RecordError):
    """A revision etcd no longer has (compacted)."""


def history_prefix(prefix: str) -> str:
    return "/" + prefix.strip("/") + "-history"


def note_key(prefix: str, name: str) -> str:
    return path.name_to_key(name, history_prefix(prefix))


def note(t, prefix: str, name: str, author: str, op: str):
    """The transaction operation that records ``author`` doing ``op`` to ``name`` (``t``: client.transactions)."""
    return t.put(note_key(prefix, name), json.dumps({"author": author, "op": op, "at": int(time.time())}))


@dataclass
class Entry:
    revision: int
    author: str
    op: str
    at: int
    services: list  # the name's records just after the change


class History:
    """Reads and rollbacks over a blocking pyetcd client (run in a thread, or from ``skydnsctl``)."""

    def __init__(self, client, prefix: str = "/skydns"):
        self.client = client
        self.prefix = "/" + prefix.strip("/")

    def _own(self, name: str, revision: int | None = None) -> dict[str, str]:
        """The keys of ``name``'s record (its key and its ``x<n>`` leaves) and their values, at ``revision``."""
        key = path.name_to_key(name, self.prefix)
        kwargs = {"revision": revision} if revision else {}
        try:
            out = {}
            value, _ = self.client.get(key, **kwargs)
            if value is not None:
                out[key] = value.decode("utf-8", "replace")
            for value, meta in self.client.get_prefix(key + "/", **kwargs):
                k = meta.key.decode("utf-8", "replace")
                if LEAF.match(k[len(key) + 1:]):
                    out[k] = value.decode("utf-8", "replace")
            return out
        except Exception as e:
            self._gone(e, revision)
            raise

    def _gone(self, e: Exception, revision) -> None:
        text = str(e).lower() + type(e).__name__.lower()
        if "compact" in text:
            raise Gone(f"revision {revision} is gone: etcd has compacted its history past it") from e

    def entries(self, name: str) -> tuple[list[Entry], int | None]:
        """The notes of ``name``, oldest first, and the revision before which etcd has compacted (None: all kept)."""
        import pyetcd.exceptions

        key = note_key(self.prefix, name)
        _value, meta = self.client.get(key)
        if meta is None:
            return [], None
        last = meta.mod_revision
        start, gone = 1, None
        while True:
            events, cancel = self.client.watch(key, start_revision=start)
            found: list[Entry] = []
            try:
                for event in events:
                    rev = event.mod_revision
                    if type(event).__name__ == "PutEvent":
                        data = json.loads(event.value)
                        found.append(Entry(rev, data.get("author", "?"), data.get("op", "?"), data.get("at", 0),
                                           [json.loads(v) for v in self._own(name, rev).values()]))
                    if rev >= last:
                        return found, gone
            except pyetcd.exceptions.RevisionCompactedError as e:
                start = gone = e.compacted_revision
            finally:
                cancel()

    def diff(self, rev1: int, rev2: int | None = None, under: str | None = None) -> list[tuple[str, str, str | None,
                                                                                               str | None]]:
        """``(change, key, before, after)`` between two revisions (``rev2`` None: now), below ``under``."""
        start = path.name_to_key(under, self.prefix) if under else self.prefix

        def read(rev):
            kwargs = {"revision": rev} if rev else {}
            try:
                return {m.key.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                        for v, m in self.client.get_prefix(start + "/", **kwargs)}
            except Exception as e:
                self._gone(e, rev)
                raise

        before, after = read(rev1), read(rev2)
        out = []
        for key in sorted(before.keys() | after.keys()):
            b, a = before.get(key), after.get(key)
            if b != a:
                out.append(("added" if b is None else "deleted" if a is None else "changed", key, b, a))
        return out

    def rollback(self, name: str, revision: int, author: str) -> int:
        """Write ``name``'s record as it was at ``revision`` (one transaction, noted); the number of keys changed."""
        then = self._own(name, revision)
        now = self._own(name)
        t = self.client.transactions
        ops = [t.delete(k) for k in now if k not in then]
        ops += [t.put(k, v) for k, v in then.items() if now.get(k) != v]
        if not ops:
            return 0
        if len(ops) + 1 > MAX_TXN_OPS:
            raise TooLarge(f"the rollback takes {len(ops) + 1} etcd operations; one transaction takes {MAX_TXN_OPS}")
        ops.append(note(t, self.prefix, name, author, f"rollback to {revision}"))
        ok, _ = self.client.transaction(compare=[], success=ops, failure=[])
        if not ok:
            raise RecordError("etcd refused the transaction")
        return len(ops) - 1
