"""HTTP/2's wire (RFC 9113) as a DNS-over-HTTPS server needs it: frames, settings and header blocks.

The hot part is written here by hand, because every DoH query pays it: a frame header is five
integers read with one :mod:`struct` call, a request's header block is decoded by the ``hpack``
library once and then remembered by its bytes (:class:`HeaderBlocks`: a client sends the same block
for every POST, indices into a table that does not change), and a response's block is a few bytes
joined (nothing is added to the peer's table, so nothing about it needs keeping).
"""
from __future__ import annotations

import struct
from typing import Any

from hpack import Decoder
from hpack.exceptions import HPACKError
from hpack.table import HeaderTable

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x2, 0x3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = 0x5, 0x6, 0x7, 0x8, 0x9
ENHANCE_YOUR_CALM = 0xB

SETTINGS_HEADER_TABLE_SIZE, SETTINGS_ENABLE_PUSH, SETTINGS_MAX_CONCURRENT_STREAMS = 0x1, 0x2, 0x3
SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE, SETTINGS_MAX_HEADER_LIST_SIZE = 0x4, 0x5, 0x6

#: The frame size every peer must take (RFC 9113 4.2); we announce no larger one.
MAX_FRAME = 16384
MAX_WINDOW = 2 ** 31 - 1
DEFAULT_WINDOW = 65535

HEAD = struct.Struct(">BHBBL")  # length (high byte, low 16 bits), type, flags, R bit + stream ID
_pair = struct.Struct(">HL")
_u32 = struct.Struct(">L")
_goaway = struct.Struct(">LL")


class ConnectionError(Exception):
    """The connection is broken (RFC 9113 5.4.1): GOAWAY with ``code``, then closed."""

    def __init__(self, code: int, why: str):
        super().__init__(why)
        self.code = code


class StreamError(Exception):
    """One stream is broken (RFC 9113 5.4.2): RST_STREAM with ``code``; the connection goes on."""

    def __init__(self, code: int, why: str):
        super().__init__(why)
        self.code = code


def frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return HEAD.pack(n >> 16, n & 0xFFFF, ftype, flags, sid) + payload


def settings(pairs: dict[int, int]) -> bytes:
    return frame(SETTINGS, 0, 0, b"".join(_pair.pack(k, v) for k, v in pairs.items()))


def parse_settings(payload: bytes) -> list[tuple[int, int]]:
    if len(payload) % 6:
        raise ConnectionError(FRAME_SIZE_ERROR, "SETTINGS length is not a multiple of 6")
    return [_pair.unpack_from(payload, i) for i in range(0, len(payload), 6)]


def window_update(sid: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, sid, _u32.pack(increment))


def rst_stream(sid: int, code: int) -> bytes:
    return frame(RST_STREAM, 0, sid, _u32.pack(code))


def goaway(last_sid: int, code: int, why: bytes = b"") -> bytes:
    return frame(GOAWAY, 0, 0, _goaway.pack(last_sid, code) + why)


def u31(payload: bytes) -> int:
    """The 31-bit value a WINDOW_UPDATE carries (its reserved bit dropped)."""
    return _u32.unpack_from(payload)[0] & 0x7FFFFFFF


def unpad(flags: int, payload: bytes, priority: bool = False) -> bytes:
    """A DATA or HEADERS payload without its padding (PADDED) and priority fields (HEADERS' PRIORITY)."""
    start, end = 0, len(payload)
    if flags & PADDED:
        if not payload:
            raise ConnectionError(FRAME_SIZE_ERROR, "PADDED frame without its pad length")
        start, end = 1, end - payload[0]
    if priority and flags & PRIORITY_FLAG:
        start += 5
    if end < start:
        raise ConnectionError(PROTOCOL_ERROR, "padding longer than the frame")
    return payload[start:end] if start or end != len(payload) else payload


# -- header blocks -------------------------------------------------------------------------------------
_CONNECTION_SPECIFIC = frozenset((b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
                                  b"upgrade"))
_PSEUDO = frozenset((b":method", b":scheme", b":path", b":authority"))


class RequestHead:
    """What a request's header block says (the parts a DoH server reads). ``verdict``: the
    server's cached judgement of it, set by the server (a head is shared by every request of the
    same block)."""

    __slots__ = ("method", "path", "content_type", "length", "verdict")

    def __init__(self, method: bytes, path: bytes, content_type: bytes, length: int | None):
        self.method, self.path, self.content_type, self.length = method, path, content_type, length
        self.verdict: Any = None


def read_head(headers) -> RequestHead:
    """A request's head from its decoded headers; StreamError(PROTOCOL_ERROR) when they are malformed
    (RFC 9113 8.1.1, 8.2, 8.3)."""
    pseudo: dict[bytes, bytes] = {}
    content_type, length = b"", None
    regular = False
    for name, value in headers:
        if name[:1] == b":":
            if regular or name not in _PSEUDO or name in pseudo:
                raise StreamError(PROTOCOL_ERROR, f"bad pseudo-header {name!r}")
            pseudo[name] = value
            continue
        regular = True
        if name != name.lower() or name in _CONNECTION_SPECIFIC or (name == b"te" and value != b"trailers"):
            raise StreamError(PROTOCOL_ERROR, f"header {name!r} not allowed in HTTP/2")
        if name == b"content-type":
            content_type = value.split(b";", 1)[0].strip().lower()
        elif name == b"content-length":
            if not value.isdigit() or (length is not None and int(value) != length):
                raise StreamError(PROTOCOL_ERROR, "bad content-length")
            length = int(value)
    method, path = pseudo.get(b":method"), pseudo.get(b":path")
    if not method or not path or b":scheme" not in pseudo:
        raise StreamError(PROTOCOL_ERROR, "a request needs :method, :scheme and :path")
    return RequestHead(method, path, content_type, length)


class _CountedTable(HeaderTable):
    """hpack's dynamic table, counting its changes: a block decoded against the same count decodes the same."""

    generation = 0

    def add(self, name: bytes, value: bytes) -> None:
        self.generation += 1
        super().add(name, value)

    @property
    def maxsize(self) -> int:
        return self._maxsize

    @maxsize.setter
    def maxsize(self, newmax: int) -> None:
        self.generation += 1
        HeaderTable.maxsize.fset(self, newmax)  # type: ignore[attr-defined]


class HeaderBlocks:
    """One connection's header decoding: hpack's decoder, and the heads of blocks seen before.

    A block that changed no table entry decodes the same while the table stays as it was, so its
    head is kept under (table generation, bytes): a client's repeated POSTs cost a dict lookup.
    """

    MEMO = 64  # blocks remembered per connection (a client sends a handful of different ones)
    MEMO_BLOCK = 256  # of at most this many bytes (a request's is a few dozen: indices and short literals)

    def __init__(self, max_header_list: int):
        self.decoder = Decoder(max_header_list_size=max_header_list)
        self.table = self.decoder.header_table = _CountedTable()
        self.memo: dict[tuple[int, bytes], RequestHead] = {}

    def skip(self, block: bytes) -> None:
        """Decode a block that is not read (trailers, a late one): the table must follow the peer's."""
        try:
            self.decoder.decode(block, raw=True)
        except HPACKError as e:
            raise ConnectionError(COMPRESSION_ERROR, f"header block: {e}") from e

    def head(self, block: bytes) -> RequestHead:
        table = self.table
        key = (table.generation, block)
        head = self.memo.get(key)
        if head is not None:
            return head
        try:
            headers = self.decoder.decode(block, raw=True)
        except HPACKError as e:  # the table may now differ from the peer's: the connection is lost
            raise ConnectionError(COMPRESSION_ERROR, f"header block: {e}") from e
        head = read_head(headers)
        if table.generation == key[0] and len(block) <= self.MEMO_BLOCK:
            if len(self.memo) >= self.MEMO:
                self.memo.clear()
            self.memo[key] = head
        return head


# -- response header blocks: literals without indexing (RFC 7541 6.2.2), the peer's table untouched --------
_STATUS_INDEXED = {200: b"\x88", 204: b"\x89", 400: b"\x8c", 404: b"\x8d", 500: b"\x8e"}


def _literal(index: int, value: bytes) -> bytes:
    """A header of the static table's name ``index`` (15 to 141), the value a plain string under 127 bytes."""
    return b"\x0f" + bytes((index - 15, len(value))) + value


def _status(code: int) -> bytes:
    return _STATUS_INDEXED.get(code) or b"\x08\x03" + b"%d" % code


_DNS_MESSAGE = _literal(31, b"application/dns-message")
_TEXT = _literal(31, b"text/plain")


def answer_block(max_age: int, length: int) -> bytes:
    """``200``, ``application/dns-message``, ``cache-control: max-age=N``, ``content-length``."""
    return b"\x88" + _DNS_MESSAGE + _literal(24, b"max-age=%d" % max_age) + _literal(28, b"%d" % length)


def error_block(code: int, length: int, allow: bytes = b"") -> bytes:
    """An error status with a ``text/plain`` body of ``length`` bytes (and ``allow`` for 405)."""
    block = _status(code) + _TEXT + _literal(28, b"%d" % length)
    return block + _literal(22, allow) if allow else block
