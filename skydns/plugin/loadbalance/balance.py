"""loadbalance: spread clients over the addresses of a name (from the Kubernetes fork of SkyDNS).

* ``round_robin`` rotates each run of A, AAAA or MX records in the answer section by
  one more place per reply; CNAMEs stay first. Done on the wire bytes: the
  records are moved as blocks, so cache hits stay free of dnspython.
* ``weighted FILE`` (CoreDNS's) moves one address of each A/AAAA set to the top,
  chosen with the weights the file gives it for that name (1 when it gives none).
* ``prefer CIDR...`` (CoreDNS's) then puts the addresses in those networks first.
* ``random_one`` keeps a single address of each A/AAAA set, chosen at random.
* ``sticky`` keeps the single address chosen by rendezvous hashing of the
  client's address with each candidate: the same client gets the same address
  while it is there, and when addresses come or go only the clients of those
  addresses move.

It sits before ``cache`` in the chain, so cached replies are balanced per query.
"""
from __future__ import annotations

import hashlib
import ipaddress
import random

import dns.message
import dns.rrset
from zope.interface import alsoProvides, implementer

from skydns.interfaces import IHandler, IRawReplyFilter
from skydns.query import wire
from skydns.query.chain import next_or_failure, post_process

A, AAAA, MX = 1, 28, 15


def _pointers_below(data: bytes, start: int, end: int, at: int) -> bool:
    """Does the name at ``at`` (within [start, end)) point only before ``start``? (A block holding a pointer
    into its own run cannot move.)"""
    while at < end:
        length = data[at]
        if length == 0:
            return True
        if length & 0xC0 == 0xC0:
            return ((length & 0x3F) << 8 | data[at + 1]) < start
        at += 1 + length
    return False


def rotate(data: bytes, turn: int) -> bytes:
    """Rotate every run of same-owner A/AAAA answers by ``turn`` places, on the wire.

    Only runs whose owners are compression pointers to earlier names are moved
    (nothing can point into them); anything unusual is left as it is.
    """
    try:
        _id, _flags, qd, an, _ns, _ar = wire.HEADER.unpack_from(data)
        pos = 12
        for _ in range(qd):
            pos = wire.skip_name(data, pos) + 4
        records = []
        for _ in range(an):
            start = pos
            owner_end = wire.skip_name(data, pos)
            rtype, _cls, _ttl, rdlen = wire.RR_TAIL.unpack_from(data, owner_end)
            pos = owner_end + 10 + rdlen
            records.append((start, pos, rtype, data[start:owner_end], owner_end + 10))
    except Exception:
        return data
    out = bytearray(data)
    i = 0
    while i < len(records):
        start, end, rtype, owner, _rdata = records[i]
        j = i + 1
        if rtype in (A, AAAA, MX):
            while j < len(records) and records[j][2] == rtype and records[j][3] == owner:
                j += 1
        n = j - i
        movable = rtype != MX or all(_pointers_below(data, start, r[1], r[4] + 2) for r in records[i:j])
        if n > 1 and movable and len(owner) == 2 and owner[0] & 0xC0 == 0xC0 and \
                ((owner[0] & 0x3F) << 8 | owner[1]) < start:
            k = turn % n
            if k:
                run = records[i:j]
                blocks = [data[s:e] for s, e, _, _, _ in run]
                blocks = blocks[k:] + blocks[:k]
                out[run[0][0]:run[-1][1]] = b"".join(blocks)
        i = j
    return bytes(out)


def _score(client: str, address: str) -> bytes:
    return hashlib.blake2b(f"{client}|{address}".encode(), digest_size=8).digest()


@implementer(IHandler)
class LoadBalance:
    name = "loadbalance"

    def __init__(self, policy: str, next=None, rng=None, weights=None, prefer=()):
        self.policy = policy
        self.next = next
        self.turn = 0
        self.rng = rng or random.Random()
        self.weights = weights  # a Weights (weighted)
        self.prefer = [ipaddress.ip_network(p, strict=False) for p in prefer]
        if policy == "round_robin" and not self.prefer:
            # The server's raw path may answer cache hits behind us: it rotates them with raw_reply.
            alsoProvides(self, IRawReplyFilter)

    def raw_reply(self, reply: bytes) -> bytes:
        """round_robin on the wire (IRawReplyFilter): the next rotation."""
        self.turn += 1
        return rotate(reply, self.turn)

    def serve(self, request):
        result = next_or_failure(self.name, self.next, request)
        return post_process(result, lambda reply: self._balance(reply, request))

    def _balance(self, reply, request):
        if self.policy == "round_robin":
            if reply.has_wire:
                data = self.raw_reply(reply.wire)
            else:  # our rotation, not dnspython's shuffle
                data = self.raw_reply(reply.message.to_wire(max_size=65535, want_shuffle=False))
            if not self.prefer:
                return data
            return self._preferred(dns.message.from_wire(data))
        if reply.has_wire and reply.counts[1] <= 1:
            return reply.wire  # nothing to choose from
        if self.policy == "weighted":
            return self._preferred(self._weighted(reply.message))
        return self._pick(reply.message, request)

    def _weighted(self, msg: dns.message.Message) -> dns.message.Message:
        """One address of each A/AAAA set to the top, drawn with the file's weights for its name."""
        table = self.weights.table() if self.weights is not None else {}
        for i, rrset in enumerate(msg.answer):
            if rrset.rdtype in (A, AAAA) and len(rrset) > 1:
                items = list(rrset)
                weights = table.get(rrset.name.to_text().lower(), {})
                chosen = self.rng.choices(items, [weights.get(rd.address, 1) for rd in items])[0]
                msg.answer[i] = _ordered(rrset, [chosen] + [rd for rd in items if rd is not chosen])
        return msg

    def _preferred(self, msg: dns.message.Message):
        """Addresses in the ``prefer`` networks first (stable otherwise); the message rendered."""
        if self.prefer:
            for i, rrset in enumerate(msg.answer):
                if rrset.rdtype in (A, AAAA) and len(rrset) > 1:
                    items = list(rrset)
                    first = [rd for rd in items if any(ipaddress.ip_address(rd.address) in n for n in self.prefer)]
                    msg.answer[i] = _ordered(rrset, first + [rd for rd in items if rd not in first])
        return msg.to_wire(max_size=65535, want_shuffle=False)

    def _pick(self, msg: dns.message.Message, request) -> dns.message.Message:
        for i, rrset in enumerate(msg.answer):
            if rrset.rdtype in (A, AAAA) and len(rrset) > 1:
                items = list(rrset)
                if self.policy == "random_one":
                    chosen = self.rng.choice(items)
                else:
                    chosen = max(items, key=lambda rd: _score(request.client[0], rd.address))
                one = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype)
                one.add(chosen, rrset.ttl)
                msg.answer[i] = one
        return msg


def _ordered(rrset, items) -> dns.rrset.RRset:
    out = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype)
    for rd in items:
        out.add(rd, rrset.ttl)
    return out


class Weights:
    """A CoreDNS weight file: ``NAME`` lines, each followed by ``IP WEIGHT`` lines (1-255); read again
    every ``reload`` seconds when it changed (0: never)."""

    def __init__(self, path: str, reactor=None, reload: float = 30.0):
        self.path = path
        self.mtime = 0.0
        self.weights: dict[str, dict[str, int]] = {}
        self.read()
        self._loop = None
        if reactor is not None and reload:
            from twisted.internet import task

            self._loop = task.LoopingCall(self._check)
            self._loop.clock = reactor
            self._loop.start(reload, now=False)

    def table(self) -> dict[str, dict[str, int]]:
        return self.weights

    def read(self) -> None:
        """Raises ValueError naming the line for a malformed file."""
        import os

        self.mtime = os.stat(self.path).st_mtime
        out: dict[str, dict[str, int]] = {}
        name = None
        with open(self.path) as f:
            for number, line in enumerate(f, 1):
                words = line.split("#", 1)[0].split()
                if not words:
                    continue
                if len(words) == 1:
                    name = words[0].lower().rstrip(".") + "."
                    out.setdefault(name, {})
                    continue
                if len(words) != 2 or name is None:
                    raise ValueError(f"{self.path}:{number}: expected a name, or 'IP WEIGHT' after one")
                try:
                    ip = str(ipaddress.ip_address(words[0]))
                    weight = int(words[1])
                except ValueError as e:
                    raise ValueError(f"{self.path}:{number}: {e}") from e
                if not 1 <= weight <= 255:
                    raise ValueError(f"{self.path}:{number}: weight {weight} is not between 1 and 255")
                out[name][ip] = weight
        self.weights = out

    def _check(self) -> None:
        import os

        from twisted.logger import Logger

        try:
            if os.stat(self.path).st_mtime != self.mtime:
                self.read()
        except (OSError, ValueError) as e:
            Logger(namespace="skydns.plugin.loadbalance").warn(
                "weight file not read again, keeping the last one: {error}", error=e)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
