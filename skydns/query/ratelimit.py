"""Response rate limiting over UDP (BIND's and Knot's RRL): a spoofed source cannot make skydns a reflector.

Every UDP reply is counted, just before it leaves, in a bucket of its client's
network (``/24`` and ``/56`` by default) and its kind, as BIND keys them:

- ``responses``: answers with records, per name and type;
- ``nodata``: empty answers, per name and type;
- ``nxdomains``: NXDOMAIN, per zone (the owner of the SOA the reply carries), so a
  flood of random names fills one bucket, not one per name;
- ``errors``: every other rcode (REFUSED, SERVFAIL, FORMERR...), one bucket per network.

A bucket earns its rate of replies per second and holds at most one second's
worth; each reply costs one. Once it is empty, replies are dropped, and every
``slip``-th dropped reply is sent as an empty truncated one instead (a real
client asks again over TCP, which is never limited; a client that sent a DNS
cookie gets BADCOOKIE with a fresh server cookie, and its retry carries a
valid cookie, which is exempt). The balance goes down to ``-window`` seconds'
worth, so a source that keeps flooding stays limited until it stops for as long.
"""
from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass, field

from skydns.query import wire
from skydns.query.cookies import BADCOOKIE

CATEGORIES = ("responses", "nodata", "nxdomains", "errors")


@dataclass(frozen=True)
class RRLConfig:
    """What the ``rrl`` directive sets (see skydns.plugin.rrl); rates are replies per second (0: unlimited)."""

    responses: float = 0.0
    nodata: float | None = None  # None: as responses
    nxdomains: float | None = None
    errors: float | None = None
    window: float = 15.0
    slip: int = 2
    ipv4_prefix: int = 24
    ipv6_prefix: int = 56
    exempt: tuple = field(default_factory=tuple)  # ip_network objects
    max_table_size: int = 100_000
    report_only: bool = False

    def rate(self, category: str) -> float:
        value = getattr(self, category)
        return self.responses if value is None else value


class Limiter:
    """The buckets of one configuration, and what it decided (for metrics)."""

    SEND, DROP, SLIP = 0, 1, 2

    def __init__(self, config: RRLConfig, clock=time.monotonic):
        self.config = config
        self.clock = clock
        self._rates = tuple(config.rate(c) for c in CATEGORIES)
        self._floors = tuple(-config.window * r for r in self._rates)
        self._table: dict = {}
        self._networks: dict[str, int | None] = {}
        #: (category, action) -> replies, action being dropped, slipped or (report_only) would be limited
        self.counts: dict[tuple[str, str], int] = {}
        self._senders: dict[int, LimitedSender] = {}

    def sender(self, inner) -> LimitedSender:
        """The limited sender in front of ``inner`` (a UDP protocol: one per socket, made once)."""
        s = self._senders.get(id(inner))
        if s is None or s.inner is not inner:
            s = self._senders[id(inner)] = LimitedSender(self, inner)
        return s

    # -- client networks ---------------------------------------------------------------------
    def network(self, host: str) -> int | None:
        """The client's network as a number (IPv6 ones above 2**32), or None when it is exempt."""
        try:
            return self._networks[host]
        except KeyError:
            pass
        if len(self._networks) >= 50_000:
            self._networks.clear()
        plain = host[7:] if host.startswith("::ffff:") and "." in host else host.partition("%")[0]
        cfg = self.config
        try:
            if ":" in plain:
                n = int.from_bytes(socket.inet_pton(socket.AF_INET6, plain), "big")
                net: int | None = (n >> (128 - cfg.ipv6_prefix)) + (1 << 32) if cfg.ipv6_prefix else 1 << 32
            else:
                n = int.from_bytes(socket.inet_aton(plain), "big")
                net = n >> (32 - cfg.ipv4_prefix) if cfg.ipv4_prefix else 0
        except OSError:
            net = None
        if net is not None and cfg.exempt:
            addr = ipaddress.ip_address(plain)
            if any(addr.version == e.version and addr in e for e in cfg.exempt):
                net = None
        self._networks[host] = net
        return net

    # -- the decision ---------------------------------------------------------------------------
    def check(self, reply: bytes, host: str) -> int:
        """SEND, DROP or SLIP for ``reply`` going to ``host``."""
        net = self.network(host)
        if net is None or len(reply) < 12:
            return self.SEND
        rcode = reply[3] & 0x0F
        if rcode == 0:
            end = reply.find(b"\x00", 12) + 3
            category = 0 if reply[6] or reply[7] else 1
            key: tuple = (category, net, reply[12:end].lower())
        elif rcode == 3:
            category = 2
            key = (2, net, _zone(reply))
        else:
            category = 3
            key = (3, net)
        rate = self._rates[category]
        if not rate:
            return self.SEND
        now = self.clock()
        table = self._table
        e = table.get(key)
        if e is None:
            if len(table) >= self.config.max_table_size:
                self._prune(now)
            table[key] = [rate - 1.0, now, 0]
            return self.SEND
        balance = e[0] + (now - e[1]) * rate
        if balance > rate:
            balance = rate
        balance -= 1.0
        floor = self._floors[category]
        if balance < floor:
            balance = floor
        e[0] = balance
        e[1] = now
        if balance >= 0:
            return self.SEND
        name = CATEGORIES[category]
        if self.config.report_only:
            self._count(name, "reported")
            return self.SEND
        slip = self.config.slip
        if slip:
            e[2] += 1
            if e[2] >= slip:
                e[2] = 0
                self._count(name, "slipped")
                return self.SLIP
        self._count(name, "dropped")
        return self.DROP

    def _count(self, category: str, action: str) -> None:
        key = (category, action)
        self.counts[key] = self.counts.get(key, 0) + 1

    def _prune(self, now: float) -> None:
        """Make room: forget buckets full again (nothing to remember), else the older half."""
        table = self._table
        stale = [k for k, e in table.items() if e[0] + (now - e[1]) * self._rates[k[0]] >= self._rates[k[0]]]
        for k in stale:
            del table[k]
        if len(table) >= self.config.max_table_size:
            for k in list(table)[:len(table) // 2]:
                del table[k]

    @property
    def size(self) -> int:
        return len(self._table)


def _zone(reply: bytes) -> bytes:
    """The owner of the first authority record of an NXDOMAIN reply (its zone's SOA), lower case; the
    question's name without its first label when that cannot be read."""
    try:
        _id, _flags, qd, an, _ns, _ar = wire.HEADER.unpack_from(reply)
        pos = 12
        for _ in range(qd):
            pos = wire.skip_name(reply, pos) + 4
        for _ in range(an):
            pos = wire.skip_name(reply, pos)
            pos += 10 + (reply[pos + 8] << 8 | reply[pos + 9])
        labels = []
        jumps = 0
        while True:
            length = reply[pos]
            if length == 0:
                break
            if length & 0xC0:
                pos = (length & 0x3F) << 8 | reply[pos + 1]
                jumps += 1
                if jumps > 20:
                    raise ValueError
                continue
            labels.append(reply[pos + 1:pos + 1 + length].lower())
            pos += 1 + length
        return b".".join(labels)
    except (IndexError, ValueError):
        first = reply[12] if len(reply) > 12 else 0
        end = reply.find(b"\x00", 12)
        return reply[13 + first:end].lower()


def slipped(reply: bytes, cookie_option: bytes | None = None) -> bytes:
    """The reply sent instead of a dropped one: empty, TC set; BADCOOKIE with a fresh cookie when the
    client sent one (``cookie_option``), so that it asks again with a cookie that exempts it."""
    end = reply.find(b"\x00", 12) + 5
    question = reply[12:end]
    qid = reply[0] << 8 | reply[1]
    flags = (reply[2] << 8 | reply[3]) & (wire.QR | wire.OPCODE_MASK | wire.RD | wire.CD | wire.AA)
    if cookie_option is not None:
        header = wire.HEADER.pack(qid, flags | (BADCOOKIE & 0xF), 1, 0, 0, 1)
        return header + question + wire.opt_record(False, BADCOOKIE >> 4, cookie_option)
    return wire.HEADER.pack(qid, flags | wire.TC, 1, 0, 0, 0) + question


class LimitedSender:
    """A UDP protocol's ``send`` behind the limiter: what the server hands every path instead of it."""

    __slots__ = ("limiter", "inner")

    def __init__(self, limiter: Limiter, inner):
        self.limiter = limiter
        self.inner = inner

    def send(self, data: bytes, peer, cookie_option: bytes | None = None) -> None:
        verdict = self.limiter.check(data, peer[0])
        if verdict == 0:
            self.inner.send(data, peer)
        elif verdict == 2:
            self.inner.send(slipped(data, cookie_option), peer)
