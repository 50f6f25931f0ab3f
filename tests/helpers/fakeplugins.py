"""Small plugins for tests, registered under extra names with :func:`registry`."""
from __future__ import annotations

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from twisted.internet import task
from zope.interface import implementer

from skydns.config import directives
from skydns.config.registry import Registry
from skydns.interfaces import IHandler, IPluginSetup
from skydns.query.chain import next_or_failure


@implementer(IHandler)
class Handler:
    def __init__(self, name, fn, next):
        self.name = name
        self.fn = fn
        self.next = next

    def serve(self, request):
        return self.fn(self, request)


@implementer(IPluginSetup)
class Setup:
    """``NAME ARGS...``: the handler is ``fn(handler, request)`` with ``handler.args``."""

    position = None

    def __init__(self, name, fn):
        self.name = name
        self.fn = fn

    def parse(self, d, block):
        d.next()
        return d.remaining_args()

    def build(self, config, block, next):
        h = Handler(self.name, self.fn, next)
        h.args = config
        h.reactor = block.reactor
        return h


def _boom(h, request):
    raise ValueError("boom for " + request.qname)


def _big(h, request):
    """``big N``: N TXT records of 100 bytes each."""
    msg = request.reply(authoritative=True)
    rrset = dns.rrset.RRset(request.message.question[0].name, dns.rdataclass.IN, dns.rdatatype.TXT)
    rrset.ttl = 60
    for i in range(int(h.args[0])):
        rrset.add(dns.rdata.from_text("IN", "TXT", f'"{i:04d}' + "x" * 95 + '"'))
    msg.answer.append(rrset)
    return msg


def _answer(h, request):
    """``answer ADDRESS``: an A record for any name."""
    msg = request.reply(authoritative=True)
    msg.answer.append(dns.rrset.from_text(request.message.question[0].name, 30, "IN", "A", h.args[0]))
    return msg


def _slow(h, request):
    """``slow SECONDS ADDRESS``: like answer, but after a delay (a Deferred)."""
    return task.deferLater(h.reactor, float(h.args[0]), _answer_addr, h.args[1], request)


def _answer_addr(addr, request):
    msg = request.reply(authoritative=True)
    msg.answer.append(dns.rrset.from_text(request.message.question[0].name, 30, "IN", "A", addr))
    return msg


def _drop(h, request):
    return None


def _passon(h, request):
    """``passon``: hands every request to the next plugin."""
    return next_or_failure(h.name, h.next, request)


def _wrong(h, request):
    return 42


FAKES = {
    "boom": _boom, "big": _big, "answer": _answer, "slow": _slow, "drop": _drop,
    "passon": _passon, "wrong": _wrong,
}
SETUPS = {name: Setup(name, fn) for name, fn in FAKES.items()}


def registry(entry_points=()) -> Registry:
    """The built-in registry plus the fakes, placed just before ``whoami`` (the end of the chain)."""
    builtin: dict[str, object] = dict(directives.BUILTIN)
    order = list(directives.ORDER)
    at = order.index("whoami")
    for name, setup in SETUPS.items():
        builtin[name] = setup
        order.insert(at, name)
    return Registry(builtin=builtin, order=tuple(order), entry_points=entry_points)
