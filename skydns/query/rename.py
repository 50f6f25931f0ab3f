"""A reply given another question name, on the wire: what a plugin that rewrites queries hands back.

A plugin in front of the cache that asks the rest of the chain for another
name (``rewrite``) must give the client a reply to the name the client asked:
the question as the client sent it, and the records the rewritten name owns
owned by the client's name again. :func:`rename` does that on the bytes, with
names compressed again, in a few microseconds: the raw path (a cache hit)
stays free of dnspython.

Compression pointers can only hide in the owner names and in the rdata of the
types RFC 1035 defined with names (NS, CNAME, SOA, PTR, MX, MINFO and the
obsolete mailbox types; RFC 3597 forbids compressing any other). Other rdata
is copied as it is.
"""
from __future__ import annotations

import struct

from skydns.query import wire

_RR = wire.RR_TAIL
_H = struct.Struct("!H")

#: rdata layout of the types whose names may be compressed: bytes before the first name, and how many names
_NAMES_IN = {2: (0, 1), 3: (0, 1), 4: (0, 1), 5: (0, 1), 7: (0, 1), 8: (0, 1), 9: (0, 1), 12: (0, 1),
             6: (0, 2), 14: (0, 2), 15: (2, 1)}


class Unreadable(ValueError):
    """The reply is not a message this module can take apart."""


def read_name(data: bytes, pos: int) -> tuple[tuple[bytes, ...], int]:
    """The labels of the (possibly compressed) name at ``pos``, and the offset just past it."""
    labels: list[bytes] = []
    end = -1
    jumps = 0
    while True:
        if pos >= len(data):
            raise Unreadable("name runs past the end")
        length = data[pos]
        if length == 0:
            pos += 1
            break
        if length & 0xC0 == 0xC0:
            if pos + 1 >= len(data):
                raise Unreadable("truncated pointer")
            if end < 0:
                end = pos + 2
            pos = (length & 0x3F) << 8 | data[pos + 1]
            jumps += 1
            if jumps > 127:
                raise Unreadable("compression loop")
            continue
        if length & 0xC0:
            raise Unreadable("unknown label type")
        labels.append(data[pos + 1:pos + 1 + length])
        pos += 1 + length
    return tuple(labels), (end if end >= 0 else pos)


class _Writer:
    __slots__ = ("out", "table")

    def __init__(self):
        self.out = bytearray()
        self.table: dict[tuple[bytes, ...], int] = {}

    def name(self, labels: tuple[bytes, ...], compress: bool = True) -> None:
        out = self.out
        table = self.table
        for i in range(len(labels)):
            suffix = tuple(label.lower() for label in labels[i:])
            if compress:
                at = table.get(suffix)
                if at is not None:
                    out += _H.pack(0xC000 | at)
                    return
            if len(out) < 0x4000:
                table.setdefault(suffix, len(out))
            out.append(len(labels[i]))
            out += labels[i]
        out.append(0)


def rename(reply: bytes, question: bytes, owners: bool = True, owner=None) -> bytes:
    """``reply`` with the question section ``question`` (name, type and class as the client sent them) and,
    with ``owners``, the records owned by the reply's question name owned by the new name; raises
    :class:`Unreadable` for a reply it cannot take apart.

    ``owner``, when given, renames every other owner name too: ``owner(text)`` gets a record's owner
    (lower case, trailing dot) and returns the name it gets instead, or None to leave it.
    """
    try:
        return _rename(reply, question, owners, owner)
    except (IndexError, struct.error, UnicodeError) as e:
        raise Unreadable(str(e)) from e


def _text(labels: tuple[bytes, ...]) -> str:
    return (b".".join(labels).decode("ascii").lower() + ".") if labels else "."


def _labels(text: str) -> tuple[bytes, ...]:
    return tuple(label.encode("ascii") for label in text.rstrip(".").split(".")) if text != "." else ()


def _rename(reply: bytes, question: bytes, owners: bool, owner) -> bytes:
    _id, _flags, qd, an, ns, ar = wire.HEADER.unpack_from(reply)
    if qd != 1:
        raise Unreadable(f"{qd} questions")
    old, pos = read_name(reply, 12)
    pos += 4
    new, qend = read_name(question, 0)
    old_key = tuple(label.lower() for label in old)
    w = _Writer()
    w.out += reply[:12]
    w.name(new, compress=False)
    w.out += question[qend:qend + 4]
    for _ in range(an + ns + ar):
        name, pos = read_name(reply, pos)
        if owners and tuple(label.lower() for label in name) == old_key:
            name = new
        elif owner is not None:
            renamed = owner(_text(name))
            if renamed is not None:
                name = _labels(renamed)
        rtype, rclass, ttl, rdlen = _RR.unpack_from(reply, pos)
        pos += 10
        end = pos + rdlen
        if end > len(reply):
            raise Unreadable("record runs past the end")
        w.name(name)
        layout = _NAMES_IN.get(rtype)
        if layout is None or rtype == wire.TYPE_OPT:
            w.out += _RR.pack(rtype, rclass, ttl, rdlen)
            w.out += reply[pos:end]
        else:
            head, count = layout
            at = len(w.out)
            w.out += _RR.pack(rtype, rclass, ttl, 0)
            start = len(w.out)
            w.out += reply[pos:pos + head]
            p = pos + head
            for _ in range(count):
                labels, p = read_name(reply, p)
                w.name(labels)
            w.out += reply[p:end]  # SOA's numbers, anything after the names
            _H.pack_into(w.out, at + 8, len(w.out) - start)
        pos = end
    return bytes(w.out)
