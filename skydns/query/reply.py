"""A reply as post-processors see it: wire bytes or a dnspython message, each made from the other only when asked.

Plugins below return replies as ``bytes`` (fast paths: a cache hit, etcd's
wire writer) or as ``dns.message.Message``. A plugin that post-processes
them (cache, loadbalance, dnssec, dns64) wraps what it got in a
:class:`Reply` and reads what it needs: the header from either form for free,
:attr:`Reply.wire` (rendered once if it was a message), :attr:`Reply.message`
(parsed once if it was bytes). Nothing is converted unless it is used, and
nothing twice. See :func:`skydns.query.chain.post_process`.
"""
from __future__ import annotations

import struct

import dns.message

_COUNTS = struct.Struct("!4H").unpack_from


class Reply:
    """One reply, from ``bytes`` or a ``dns.message.Message``.

    Hand on :attr:`result` when the reply is unchanged (it is whichever form
    exists, bytes preferred, so the server renders nothing again), or
    :attr:`message` after changing it. A message parsed here from bytes is the
    post-processor's own; a message that came from ``next`` as a message
    belongs to whoever made it (see :class:`skydns.interfaces.IHandler`).
    """

    __slots__ = ("_wire", "_message")

    def __init__(self, result: bytes | dns.message.Message):
        if result.__class__ is bytes:
            self._wire: bytes | None = result
            self._message: dns.message.Message | None = None
        elif isinstance(result, dns.message.Message):
            self._wire = None
            self._message = result
        else:
            raise TypeError(f"a reply is bytes or a dns.message.Message, not {type(result).__name__}")

    @property
    def wire(self) -> bytes:
        """The reply in wire format (rendered from the message, uncompressed size up to 64 KiB, once)."""
        data = self._wire
        if data is None:
            data = self._wire = self._message.to_wire(max_size=65535)  # type: ignore[union-attr]
        return data

    @property
    def message(self) -> dns.message.Message:
        """The reply as a dnspython message (parsed from the bytes the first time)."""
        msg = self._message
        if msg is None:
            msg = self._message = dns.message.from_wire(self._wire, keyring=False)  # type: ignore[arg-type]
        return msg

    @property
    def result(self) -> bytes | dns.message.Message:
        """What to hand on unchanged: the bytes when there are some, else the message."""
        return self._wire if self._wire is not None else self._message  # type: ignore[return-value]

    @property
    def has_wire(self) -> bool:
        """True when the bytes exist already (reading :attr:`wire` costs nothing)."""
        return self._wire is not None

    @property
    def rcode(self) -> int:
        """The reply's rcode (the extended bits of the OPT record included when it is a message)."""
        if self._wire is not None:
            return self._wire[3] & 0x0F
        return self._message.rcode()  # type: ignore[union-attr]

    @property
    def flags(self) -> int:
        """The header flags (QR, AA, TC, RD, RA, ... and the 4-bit rcode)."""
        if self._wire is not None:
            return self._wire[2] << 8 | self._wire[3]
        return self._message.flags | (self._message.rcode() & 0x0F)  # type: ignore[union-attr]

    @property
    def counts(self) -> tuple[int, int, int, int]:
        """Records in the question, answer, authority and additional sections (OPT counted in additional)."""
        if self._wire is not None:
            return _COUNTS(self._wire, 4)
        m = self._message
        assert m is not None
        return (len(m.question), sum(len(r) for r in m.answer), sum(len(r) for r in m.authority),
                sum(len(r) for r in m.additional) + (1 if m.edns >= 0 else 0))


class MessageStream:
    """Several reply messages to one query, made as they are sent (a zone transfer over TCP).

    A plugin returns one (or a Deferred firing with one) instead of a reply; the TCP
    connection writes its messages while the client reads them, pausing when the
    client does (so a transfer holds a few messages in memory, never the zone).
    ``messages`` yields wire-format messages; ``first`` is handed to the block's
    observers (log, prometheus) as the reply.
    """

    __slots__ = ("messages", "first")

    def __init__(self, messages, first: bytes):
        self.messages = messages
        self.first = first
