"""The NSEC3 chain of a signed zone: every owner name hashed, in hash order, kept as names come and go.

RFC 5155 with RFC 9276's parameters (SHA-1, no salt, no extra iterations, no opt-out), as
the online white lies use. The chain holds every name with data and every empty
non-terminal between them and the apex (section 7.1: an ENT has an NSEC3 with an empty
type bitmap). A change is a few dictionary and list operations: a name's ancestors count
the names with data below them, so an ENT appears with its first descendant and goes with
its last.
"""
from __future__ import annotations

import base64
import bisect
import hashlib

import dns.name

from skydns.query import wire


def nsec3_hash(name: str) -> bytes:
    """SHA-1 of the name's canonical wire form (no salt, no extra iterations)."""
    return hashlib.sha1(wire.encode_name(name.lower())).digest()


def b32(raw: bytes) -> str:
    return base64.b32hexencode(raw).decode().lower()


def parent(name: str) -> str:
    """The name one label up (presentation form; escaped dots read by dnspython)."""
    if "\\" in name:
        return dns.name.from_text(name).parent().to_text().lower()
    return name.split(".", 1)[1] or "."


class Chain:
    def __init__(self, zone: str):
        self.zone = zone
        self.suffix = "." + zone if zone != "." else "."
        self.data: set[str] = set()  # names with records
        self.below: dict[str, int] = {}  # name -> names with records strictly below it
        self.hashes: list[bytes] = []  # sorted
        self.by_hash: dict[bytes, str] = {}  # hash -> the name it stands for
        self.by_owner: dict[str, bytes] = {}  # hashed owner name -> hash
        self._insert(zone)

    def owner(self, h: bytes) -> str:
        return b32(h) + self.suffix

    def __contains__(self, name: str) -> bool:
        return name in self.data or self.below.get(name, 0) > 0 or name == self.zone

    def mark(self, name: str, has_data: bool) -> None:
        """``name`` has records now (or has none any more)."""
        if name == self.zone or (name in self.data) == has_data:
            return
        if has_data:
            if name not in self:
                self._insert(name)
            self.data.add(name)
            for a in self._ancestors(name):
                self.below[a] = self.below.get(a, 0) + 1
                if self.below[a] == 1 and a not in self.data:
                    self._insert(a)
        else:
            self.data.discard(name)
            if name not in self:
                self._remove(name)
            for a in self._ancestors(name):
                left = self.below.get(a, 0) - 1
                if left > 0:
                    self.below[a] = left
                    continue
                self.below.pop(a, None)
                if a not in self.data:
                    self._remove(a)

    def _ancestors(self, name: str):
        """The names between ``name`` and the apex (both left out)."""
        a = parent(name)
        while a != self.zone and a.endswith(self.suffix):
            yield a
            a = parent(a)

    def _insert(self, name: str) -> None:
        h = nsec3_hash(name)
        if h in self.by_hash:
            return
        bisect.insort(self.hashes, h)
        self.by_hash[h] = name
        self.by_owner[self.owner(h)] = h

    def _remove(self, name: str) -> None:
        h = nsec3_hash(name)
        if self.by_hash.pop(h, None) is None:
            return
        del self.hashes[bisect.bisect_left(self.hashes, h)]
        del self.by_owner[self.owner(h)]

    def next_hash(self, h: bytes) -> bytes:
        """The hash after ``h`` in the chain (the first after the last)."""
        i = bisect.bisect_right(self.hashes, h)
        return self.hashes[i % len(self.hashes)]

    def previous(self, h: bytes) -> bytes:
        """The hash before where ``h`` is (or would be): the NSEC3 whose next field covers ``h``."""
        i = bisect.bisect_left(self.hashes, h)
        return self.hashes[i - 1]  # -1: the last, for a hash before the first

    def affected(self, names) -> set[str]:
        """The hashed owners whose NSEC3 a change of ``names`` may alter: theirs and their ancestors',
        and the ones before each in the chain (their next field)."""
        out = set()
        for name in names:
            for n in (name, *self._ancestors(name)):
                h = nsec3_hash(n)
                out.add(self.owner(h))
                if self.hashes:
                    out.add(self.owner(self.previous(h)))
        return out
