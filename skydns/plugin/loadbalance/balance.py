"""loadbalance: spread clients over the addresses of a name (from the Kubernetes fork of SkyDNS).

* ``round_robin`` rotates each run of A or AAAA records in the answer section by
  one more place per reply; CNAMEs stay first. Done on the wire bytes: the
  records are moved as blocks, so cache hits stay free of dnspython.
* ``random_one`` keeps a single address of each A/AAAA set, chosen at random.
* ``sticky`` keeps the single address chosen by rendezvous hashing of the
  client's address with each candidate: the same client gets the same address
  while it is there, and when addresses come or go only the clients of those
  addresses move.

It sits before ``cache`` in the chain, so cached replies are balanced per query.
"""
from __future__ import annotations

import hashlib
import random

import dns.message
import dns.rrset
from zope.interface import alsoProvides, implementer

from skydns import wire
from skydns.chain import next_or_failure, post_process
from skydns.interfaces import IHandler, IRawReplyFilter

A, AAAA = 1, 28


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
            records.append((start, pos, rtype, data[start:owner_end]))
    except Exception:
        return data
    out = bytearray(data)
    i = 0
    while i < len(records):
        start, end, rtype, owner = records[i]
        j = i + 1
        if rtype in (A, AAAA):
            while j < len(records) and records[j][2] == rtype and records[j][3] == owner:
                j += 1
        n = j - i
        if n > 1 and len(owner) == 2 and owner[0] & 0xC0 == 0xC0 and \
                ((owner[0] & 0x3F) << 8 | owner[1]) < start:
            k = turn % n
            if k:
                run = records[i:j]
                blocks = [data[s:e] for s, e, _, _ in run]
                blocks = blocks[k:] + blocks[:k]
                out[run[0][0]:run[-1][1]] = b"".join(blocks)
        i = j
    return bytes(out)


def _score(client: str, address: str) -> bytes:
    return hashlib.blake2b(f"{client}|{address}".encode(), digest_size=8).digest()


@implementer(IHandler)
class LoadBalance:
    name = "loadbalance"

    def __init__(self, policy: str, next=None, rng=None):
        self.policy = policy
        self.next = next
        self.turn = 0
        self.rng = rng or random.Random()
        if policy == "round_robin":
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
                return self.raw_reply(reply.wire)
            # our rotation, not dnspython's shuffle
            return self.raw_reply(reply.message.to_wire(max_size=65535, want_shuffle=False))
        if reply.has_wire and reply.counts[1] <= 1:
            return reply.wire  # nothing to choose from
        return self._pick(reply.message, request)

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
