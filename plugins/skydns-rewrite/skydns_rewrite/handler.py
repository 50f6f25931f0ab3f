"""rewrite in the chain: asks the rest of the chain for the rewritten name, gives the client its own name back.

In front of the cache (``position = ("before", "cache")``), so the cache keeps the answer under the name
it was asked for (the rewritten one, never the client's), and the cache's raw path stays open: the
handler provides :class:`skydns.interfaces.IRawRewriter`, whose two methods rewrite a packet's bytes
on the way in and the reply's on the way out, with no dnspython parse.
"""
from __future__ import annotations

from prometheus_client.core import CounterMetricFamily
from zope.interface import implementer

from skydns.interfaces import IMetrics, IRawRewriter
from skydns.query.chain import next_or_failure, post_process
from skydns.query.rename import rename
from skydns_rewrite.rules import Rule, rewrite

#: Names remembered by the raw path (name as sent -> what it becomes); forgotten all at once when full.
MEMO_MAX = 10000


def _name_end(query: bytes) -> int:
    """The offset just past the question's name (uncompressed, from offset 12), or -1."""
    pos = 12
    try:
        while query[pos]:
            if query[pos] > 63:
                return -1
            pos += 1 + query[pos]
    except IndexError:
        return -1
    return pos + 1


def _text(name_wire: bytes) -> str | None:
    labels, pos = [], 0
    while name_wire[pos]:
        labels.append(name_wire[pos + 1:pos + 1 + name_wire[pos]])
        pos += 1 + name_wire[pos]
    try:
        return (b".".join(labels).decode("ascii").lower() + ".") if labels else "."
    except UnicodeDecodeError:
        return None


def _wire(text: str) -> bytes:
    return b"".join(bytes((len(label),)) + label.encode("ascii") for label in text.rstrip(".").split(".")) + b"\0"


@implementer(IRawRewriter, IMetrics)
class Rewrite:
    name = "rewrite"

    def __init__(self, rules: list[Rule], server: str, next=None):
        self.rules = rules
        self.server = server  # the block's name, for the metric's label
        self.next = next
        self.rewritten = 0
        self._memo: dict[bytes, tuple | None] = {}

    # -- the normal path -------------------------------------------------------------------------
    def serve(self, request):
        found = rewrite(self.rules, request.qname)
        if found is None:
            return next_or_failure(self.name, self.next, request)
        new, used = found
        self.rewritten += 1
        request.set_meta("rewrite/original", request.qname)
        request.set_meta("rewrite/name", new)
        derived = request.derive(new)
        asked = request.question_wire
        return post_process(next_or_failure(self.name, self.next, derived),
                            lambda reply: self._restore(reply.wire, asked, used))

    def _restore(self, reply: bytes, asked: bytes, used: list[Rule]) -> bytes:
        """The reply to the rewritten question, given the client's question (and names) back."""
        owners = any(rule.owners for rule in used)
        answering = [rule for rule in reversed(used) if rule.answer]  # responses rewrite in reverse order

        def owner(text: str) -> str | None:
            changed = None
            for rule in answering:
                new = rule.answer_owner(changed or text)
                if new is not None:
                    changed = new
            return changed

        return rename(reply, asked, owners=owners, owner=owner if answering else None)

    # -- the raw path (IRawRewriter) -------------------------------------------------------------
    def raw_query(self, query: bytes):
        end = _name_end(query)
        if end < 0:
            return None  # not a plain question: the normal path reads it
        name_wire = query[12:end]
        key = name_wire.lower()
        found = self._memo.get(key, self)
        if found is self:
            text = _text(name_wire)
            try:
                rewritten = rewrite(self.rules, text) if text is not None else None
            except ValueError:
                rewritten = None
            found = (_wire(rewritten[0]), rewritten[1]) if rewritten is not None else None
            if len(self._memo) >= MEMO_MAX:
                self._memo.clear()
            self._memo[key] = found
        if found is None:
            return query
        return query[:12] + found[0] + query[end:]

    def raw_restore(self, query: bytes, reply: bytes) -> bytes:
        end = _name_end(query)
        found = self._memo.get(query[12:end].lower())
        if not found:
            return reply  # it was not rewritten
        self.rewritten += 1  # answered on the raw path (a miss there is counted by serve)
        return self._restore(reply, query[12:end + 4], found[1])

    # -- its metric (IMetrics) ---------------------------------------------------------------------
    def collect(self, prefix: str):
        family = CounterMetricFamily(prefix + "rewrite_rewrites", "Queries whose name was rewritten.",
                                     labels=["server"])
        family.add_metric([self.server], self.rewritten)
        return [family]
