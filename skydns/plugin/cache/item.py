"""A cached reply: its wire bytes and where to patch them for each client."""
from __future__ import annotations

import struct

_pack_ttl = struct.Struct("!I").pack_into


class Item:
    __slots__ = ("data", "offsets", "ttls", "stored", "ttl", "qlen", "key", "names", "hits", "window",
                 "negative", "refreshing", "raw", "failed_until")

    def __init__(self, data: bytes, offsets, ttls, stored: float, ttl: int, qlen: int, key, names,
                 negative: bool):
        self.data = data
        self.offsets = offsets
        self.ttls = ttls
        self.stored = stored
        self.ttl = ttl
        self.qlen = qlen
        self.key = key
        self.names = names
        self.hits = 0
        self.window = stored
        self.negative = negative
        self.refreshing = False
        self.failed_until = 0.0  # serve_stale: no refresh tried again before this (FAILURE_RECHECK)
        self.raw: list[bytes] = []  # query bytes (after the ID) this item answers on the server's raw path

    def render_raw(self, query: bytes, age: int, keep_ttl: bool) -> bytes:
        """For a query identical but for its ID to one answered before: patch the ID and the TTLs."""
        if age <= 0 or keep_ttl:
            return query[:2] + self.data[2:]
        buf = bytearray(self.data)
        buf[0] = query[0]
        buf[1] = query[1]
        for off, ttl in zip(self.offsets, self.ttls, strict=False):
            _pack_ttl(buf, off, ttl - age if ttl > age else 0)
        return bytes(buf)

    def render(self, request, age: int, keep_ttl: bool = False) -> bytes:
        """This reply for ``request``: its ID, its RD/CD flags, its spelling of the name, TTLs counted down."""
        buf = bytearray(self.data)
        qid = request.id
        buf[0] = qid >> 8
        buf[1] = qid & 0xFF
        qflags = request.flags
        buf[2] = (buf[2] & 0xFE) | ((qflags >> 8) & 0x01)  # RD
        buf[3] = (buf[3] & 0xEF) | (qflags & 0x10)  # CD
        buf[12:12 + self.qlen] = request.question_wire
        if age > 0 and not keep_ttl:
            for off, ttl in zip(self.offsets, self.ttls, strict=False):
                _pack_ttl(buf, off, ttl - age if ttl > age else 0)
        return bytes(buf)

    def render_ttl(self, request, ttl: int) -> bytes:
        """This reply for ``request`` with every TTL set to ``ttl`` (a stale reply)."""
        data = bytearray(self.render(request, 0, True))
        for off in self.offsets:
            _pack_ttl(data, off, ttl)
        return bytes(data)
