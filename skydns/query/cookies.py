"""DNS cookies (RFC 7873), server cookies made as RFC 9018 says, on the bytes of queries and replies.

A client sends an 8-byte client cookie, and once it has one, the server cookie
it was given. The server answers every cookie with the client's cookie and a
fresh server cookie: version 1, three reserved bytes, the time, and a SipHash-2-4
of the client cookie, those 8 bytes and the client's address under a secret. A
valid server cookie proves the client saw an earlier reply at its address: a
spoofed source cannot have one (rate limiting spares such clients).

The secret is derived per period from a master secret (HMAC-SHA256 of the period
number), so every process holding the master, the workers of one server or the
servers of one anycast address given the same ``secret``, makes and accepts the
same cookies, and rotates them at the same moment. Cookies made under the
previous period's secret are still accepted.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import struct
import time
from dataclasses import dataclass

from siphash24 import siphash24

from skydns.query import wire

#: The EDNS option code of COOKIE.
OPTION_COOKIE = 10
#: The extended rcode BADCOOKIE (23): 7 in the header, 1 in the OPT record.
BADCOOKIE = 23
#: A server cookie is valid from up to this many seconds in the past (RFC 9018 section 4.3)...
MAX_AGE = 3600
#: ... to this many in the future (clocks of anycast servers differ).
MAX_SKEW = 300
#: A server cookie older than this is answered with a fresh one.
RENEW_AFTER = 1800
_VERSION = b"\x01\x00\x00\x00"
_TIME = struct.Struct("!I")
_OPTION_HEAD = struct.Struct("!HH")
#: The environment variable naming a file descriptor to read the master secret from (how ``skydns
#: --workers`` hands one secret to all its workers without writing it anywhere).
SECRET_FD = "SKYDNS_COOKIE_SECRET_FD"

_master: bytes | None = None


def master_secret() -> bytes:
    """This process's master secret: read once from the descriptor the supervisor passed, else random."""
    global _master
    if _master is None:
        fd = os.environ.pop(SECRET_FD, None)
        secret = b""
        if fd is not None:
            try:
                with os.fdopen(int(fd), "rb") as f:
                    secret = f.read(64)
            except (OSError, ValueError):
                secret = b""
        _master = secret if len(secret) >= 16 else os.urandom(32)
    return _master


@dataclass(frozen=True)
class CookieConfig:
    """What the ``cookie`` directive sets (see skydns.plugin.cookie)."""

    secret: bytes | None = None  # None: this process's master secret
    rotate: float = 3600.0
    require: bool = False

    def __repr__(self) -> str:  # the secret never shows in a log line or an error
        return f"CookieConfig(secret={'<set>' if self.secret else None}, rotate={self.rotate}, require={self.require})"


class Malformed(ValueError):
    """A COOKIE option of a length RFC 7873 does not allow: the query gets FORMERR."""


class Jar:
    """Makes and checks server cookies under one configuration."""

    def __init__(self, config: CookieConfig, clock=time.time):
        self.config = config
        self.clock = clock
        self._master = config.secret if config.secret is not None else master_secret()
        self._period = -1
        self._secrets: tuple[bytes, bytes] = (b"", b"")
        self._addresses: dict[str, bytes] = {}
        self.counts = {"good": 0, "new": 0, "bad": 0, "malformed": 0}

    def secrets(self, now: float) -> tuple[bytes, bytes]:
        """The secret of this period and of the one before."""
        period = int(now // self.config.rotate)
        if period != self._period:
            self._secrets = (self._derive(period), self._derive(period - 1))
            self._period = period
        return self._secrets

    def _derive(self, period: int) -> bytes:
        return hmac.new(self._master, b"skydns cookie %d" % period, hashlib.sha256).digest()[:16]

    def _packed(self, host: str) -> bytes:
        packed = self._addresses.get(host)
        if packed is None:
            if len(self._addresses) >= 10000:
                self._addresses.clear()
            packed = self._addresses[host] = ipaddress.ip_address(host.partition("%")[0]).packed
        return packed

    def server_cookie(self, client_cookie: bytes, host: str, now: float | None = None,
                      secret: bytes | None = None) -> bytes:
        """A server cookie for ``client_cookie`` from ``host``, stamped ``now``."""
        if now is None:
            now = self.clock()
        stamp = _VERSION + _TIME.pack(int(now) & 0xFFFFFFFF)
        if secret is None:
            secret = self.secrets(now)[0]
        return stamp + siphash24(client_cookie + stamp + self._packed(host), key=secret).digest()

    def valid(self, client_cookie: bytes, server_cookie: bytes, host: str, now: float) -> bool:
        """Did this server (or one sharing its secret) make ``server_cookie``, in the last hour?"""
        if len(server_cookie) != 16 or server_cookie[:4] != _VERSION:
            return False
        stamp = _TIME.unpack_from(server_cookie, 4)[0]
        age = (int(now) - stamp) & 0xFFFFFFFF  # serial arithmetic: the clock wraps in 2106
        if age >= 0x80000000:
            age -= 0x100000000
        if age > MAX_AGE or age < -MAX_SKEW:
            return False
        data = client_cookie + server_cookie[:8] + self._packed(host)
        for secret in self.secrets(now):
            if hmac.compare_digest(siphash24(data, key=secret).digest(), server_cookie[8:]):
                return True
        return False


class Cookied:
    """What :func:`read` found in a query: the query without its COOKIE option, and the cookies."""

    __slots__ = ("query", "client", "server", "bufsize")

    def __init__(self, query: bytes, client: bytes, server: bytes, bufsize: int):
        self.query, self.client, self.server, self.bufsize = query, client, server, bufsize


def read(data: bytes) -> Cookied | None:
    """The COOKIE option of a plain query (one question, only an OPT after it), taken out of the bytes;
    None when there is none (or the query has other records: TSIG covers the option, so it stays).
    Raises :class:`Malformed` for an option of a wrong length."""
    if len(data) < 12 or data[4:12] != b"\x00\x01\x00\x00\x00\x00\x00\x01":
        return None
    end = data.find(b"\x00", 12)
    pos = end + 5  # the root byte of the name, type and class
    if end < 0 or data[pos:pos + 3] != b"\x00\x00\x29":
        return None
    rdlen = data[pos + 9] << 8 | data[pos + 10]
    start = pos + 11
    if start + rdlen != len(data):
        return None
    at = start
    while at + 4 <= len(data):
        code, size = _OPTION_HEAD.unpack_from(data, at)
        if code == OPTION_COOKIE:
            cookie = data[at + 4:at + 4 + size]
            if len(cookie) != size or not (size == 8 or 16 <= size <= 40):
                raise Malformed(f"a COOKIE option of {size} bytes")
            rest = rdlen - 4 - size
            query = data[:pos + 9] + bytes((rest >> 8, rest & 0xFF)) + data[start:at] + data[at + 4 + size:]
            bufsize = data[pos + 3] << 8 | data[pos + 4]
            return Cookied(query, cookie[:8], cookie[8:], max(bufsize, wire.MIN_PAYLOAD))
        at += 4 + size
    return None


def option(client: bytes, server: bytes) -> bytes:
    """A COOKIE option, head and data, for an OPT record."""
    return _OPTION_HEAD.pack(OPTION_COOKIE, len(client) + len(server)) + client + server


def add(reply: bytes, opt_option: bytes) -> bytes | None:
    """``reply`` with ``opt_option`` added to its OPT record; None when it has no OPT record, or records
    after it (a TSIG signature covers what it signs: it is not changed)."""
    # The usual reply: an OPT record last, with no options (11 bytes) or a few.
    try:
        _id, _flags, qd, an, ns, ar = wire.HEADER.unpack_from(reply)
        if not ar:
            return None
        pos = 12
        for _ in range(qd):
            pos = wire.skip_name(reply, pos) + 4
        for i in range(an + ns + ar):
            owner = pos
            pos = wire.skip_name(reply, pos)
            rtype, _cls, _ttl, rdlen = wire.RR_TAIL.unpack_from(reply, pos)
            end = pos + 10 + rdlen
            if rtype == wire.TYPE_OPT:
                if end != len(reply) or i != an + ns + ar - 1 or reply[owner] != 0:
                    return None
                size = rdlen + len(opt_option)
                return reply[:pos + 8] + bytes((size >> 8, size & 0xFF)) + reply[pos + 10:] + opt_option
            pos = end
    except (IndexError, struct.error):
        return None
    return None


def badcookie(query: bytes, opt_option: bytes) -> bytes:
    """BADCOOKIE to ``query`` (a plain query, as :func:`read` takes), with a new cookie to retry with."""
    end = query.find(b"\x00", 12) + 5
    flags = wire.reply_flags(query[2] << 8 | query[3], BADCOOKIE & 0xF)
    header = wire.HEADER.pack(query[0] << 8 | query[1], flags, 1, 0, 0, 1)
    return header + query[12:end] + wire.opt_record(bool(query[end + 7] & 0x80), BADCOOKIE >> 4, opt_option)


def truncated(query: bytes) -> bytes:
    """An empty reply with TC to a plain query: the client asks again over TCP."""
    end = query.find(b"\x00", 12) + 5
    flags = wire.reply_flags(query[2] << 8 | query[3]) | wire.TC
    return wire.HEADER.pack(query[0] << 8 | query[1], flags, 1, 0, 0, 0) + query[12:end]
