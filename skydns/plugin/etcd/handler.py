"""etcd: answers for its zones from the watched copy, through the shared answer builder."""
from __future__ import annotations

from twisted.logger import Logger
from zope.interface import implementer

from skydns.interfaces import IHandler
from skydns.query import wire
from skydns.query.answers import Answers
from skydns.query.chain import next_or_failure
from skydns.query.rcode import NXDOMAIN, REFUSED, SERVFAIL
from skydns.query.zones import falls_through, in_zones

log = Logger(namespace="skydns.plugin.etcd")
PTR = 12


@implementer(IHandler)
class Etcd:
    name = "etcd"

    def __init__(self, copy, answers: Answers, fallthrough, next=None):
        self.copy = copy
        self.answers = answers
        self.zones = answers.zones
        self.fallthrough = fallthrough  # None: never; a list: those zones ([] for all)
        self.next = next
        self.unloaded_answers = 0  # SERVFAILs given because the copy was not read yet

    def serve(self, request):
        qname = request.qname
        if request.qclass != wire.CLASS_IN:
            # Service records are IN data: another class (CH, HS, NONE, 0) in our zones is
            # refused, as NSD and Knot do; outside them the rest of the chain decides.
            if in_zones(qname, self.zones) is not None:
                return wire.error_reply(request, REFUSED)
            return next_or_failure(self.name, self.next, request)
        if request.qtype == PTR and (qname.endswith(".in-addr.arpa.") or qname.endswith(".ip6.arpa.")) \
                and self.copy.synced:
            result = self.answers.ptr(request)
            if result is not None:
                return self.answers.respond(request, result, None)
            # PTR is not authoritative here: with no record, the rest of the chain may know it.
            return next_or_failure(self.name, self.next, request)
        zone = in_zones(qname, self.zones)
        if zone is None:
            return next_or_failure(self.name, self.next, request)
        if not self.copy.synced:
            # Just started (or a worker just restarted): wait for the first read, briefly, rather
            # than answer SERVFAIL for what is about to be known.
            loaded = self.copy.when_loaded()
            if loaded is None:
                return self._not_loaded(request)
            return loaded.addCallback(self._after_load, request)
        if request.qtype in (wire.TYPE_AXFR, wire.TYPE_IXFR):  # a transfer plugin in front answers these
            return wire.transfer_refusal(request)
        result = self.answers.lookup(request, zone)
        if result.rcode == NXDOMAIN and falls_through(qname, self.fallthrough):
            return next_or_failure(self.name, self.next, request)
        return self.answers.respond(request, result, zone)

    def _after_load(self, loaded: bool, request):
        return self.serve(request) if loaded else self._not_loaded(request)

    def _not_loaded(self, request):
        self.unloaded_answers += 1
        if self.unloaded_answers in (1, 100, 10000) or self.unloaded_answers % 100000 == 0:
            log.warn("etcd copy of {prefix} not loaded: SERVFAIL for {qname} ({count} so far)",
                     prefix=self.copy.prefix, qname=request.qname, count=self.unloaded_answers)
        return wire.error_reply(request, SERVFAIL)
