"""SkyDNS's answers for any record source: from a query and the services of its name to a reply.

What a record source plugin needs beyond its records (CoreDNS's backend_lookup):
the rules of each type (:mod:`.rules`), targets outside the served zones looked
up through the server and spliced in, and the reply written, as bytes on the
usual path (:mod:`.render`) or as a dnspython message when it holds records from
upstream (:mod:`.message`)::

    answers = Answers(source, Settings(zones), Upstream(block))
    ...
    def serve(self, request):
        zone = in_zones(request.qname, answers.zones)
        if zone is None:
            return next_or_failure(self.name, self.next, request)
        return answers.respond(request, answers.lookup(request, zone), zone)
"""
from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer

from skydns.msg.service import Service
from skydns.query.answers import rules as lk
from skydns.query.answers.message import add_records, with_ttl
from skydns.query.answers.render import render as render_wire
from skydns.query.dnsutil import section_ttl
from skydns.query.rcode import NOERROR, NXDOMAIN


class Answers:
    """Answers from ``source`` (an :class:`skydns.interfaces.IRecordSource`, or anything with its
    ``services(name, exact)``) under ``settings``; external targets through ``upstream`` (a
    :class:`skydns.query.upstream.Upstream`, None to leave them out). ``ttl`` and ``serial``: see
    :class:`skydns.query.answers.rules.Rules`."""

    def __init__(self, source, settings: lk.Settings, upstream=None,
                 ttl: Callable[[Service], int] | None = None, serial: Callable[[str], int] | None = None):
        self.rules = lk.Rules(source.services, settings, ttl, serial)
        self.settings = settings
        self.zones = settings.zones
        self.upstream = upstream

    def lookup(self, request, zone: str) -> lk.Result:
        """What SkyDNS answers for ``request`` (its name in ``zone``); every name read goes into
        ``request.dependencies`` when a cache asked for them."""
        return self.rules.answer(request.qname, request.qtype, zone, request.dependencies)

    def ptr(self, request) -> lk.Result | None:
        """PTR from the reverse name's own services (their hosts); None when there are none."""
        return self.rules.ptr(request.qname, request.dependencies)

    def respond(self, request, result: lk.Result, zone: str | None):
        """The reply to ``request`` for ``result``: bytes, a dnspython message, or a Deferred when a
        target outside the zones had to be looked up through the server and did not answer at once."""
        if result.externals:
            if self.upstream is None:  # nothing to ask: outside targets are left out
                return self._splice(request, result, zone, [None] * len(result.externals))
            return self._resolve(request, result, zone)
        return self._render(request, result, zone)

    # -- rendering -----------------------------------------------------------------------------
    def _render(self, request, result: lk.Result, zone: str | None):
        ttl = _ttl(result)
        if not result.upstream_answer and not result.upstream_additional:
            soa = None
            if (result.soa or not result.answer) and zone is not None and result.rcode in (NOERROR, NXDOMAIN):
                soa = self.rules.soa(zone, self.settings.min_ttl)
            data = render_wire(request, result, soa, ttl)
            if data is not None:
                return data
        return self._render_dnspython(request, result, zone)

    def _render_dnspython(self, request, result: lk.Result, zone: str | None):
        """For answers with records from upstream (and names with escapes): build a dnspython message."""
        reply = request.reply(authoritative=result.authoritative, rcode=result.rcode)
        asked = request.message.question[0].name
        ttl = _ttl(result)
        spliced = result.upstream_answer
        if ttl is not None and spliced:
            # SkyDNS's rule holds across what came from upstream too: a CNAME of 3600 to a name whose
            # address has 60 is answered with 60 on both
            ttl = min([ttl] + [rrset.ttl for rrset in spliced])
        add_records(reply.answer, result.answer, request.qname, asked, ttl)
        add_records(reply.additional, result.additional, request.qname, asked, ttl, one_cname_per_owner=True)
        for rrset in result.upstream_answer:
            reply.answer.append(with_ttl(rrset, ttl))
        for rrset in result.upstream_additional:
            if not any(r.name == rrset.name and r.rdtype == rrset.rdtype for r in reply.additional):
                reply.additional.append(rrset)
        if (result.soa or not reply.answer) and zone is not None and result.rcode in (NOERROR, NXDOMAIN):
            soa = self.rules.soa(zone, self.settings.min_ttl)
            add_records(reply.authority, [soa], request.qname, asked, None)
        return reply

    # -- targets outside the zones -----------------------------------------------------------------
    def _resolve(self, request, result: lk.Result, zone: str | None):
        """Look external targets up through the server, then render; synchronous if they all were."""
        answers = []
        waiting = False
        for ext in result.externals:
            try:
                got = self.upstream.lookup(ext.target, ext.qtype, request)
            except Exception as e:
                got = e
            if isinstance(got, defer.Deferred):
                waiting = True
                got.addErrback(lambda f: f.value)
            answers.append(got)
        if not waiting:
            return self._splice(request, result, zone, answers)
        return defer.gatherResults(
            [a if isinstance(a, defer.Deferred) else defer.succeed(a) for a in answers]
        ).addCallback(lambda got: self._splice(request, result, zone, got))

    def _splice(self, request, result: lk.Result, zone, answers):
        up_answer: list = []
        up_additional: list = []
        hops: set[int] = set()  # CNAMEs inside the zones shared by several outside names: once each
        for ext, got in zip(result.externals, answers, strict=True):
            if isinstance(got, BaseException) or got is None or got.rcode() != NOERROR or not got.answer:
                continue  # did not resolve: the CNAME (and the hops that led to it) are left out
            via = [rec for rec in ext.via if id(rec) not in hops]
            hops.update(id(rec) for rec in via)
            if ext.section == "answer":
                result.answer.extend(via)
                if ext.cname is not None:
                    result.answer.append(ext.cname)
                up_answer.extend(got.answer)
            else:
                result.additional.extend(via)
                up_additional.extend(r for r in got.answer if not (ext.skip_cnames and r.rdtype == lk.CNAME))
        result.upstream_answer = up_answer
        result.upstream_additional = up_additional
        if not result.answer and not up_answer:
            result.soa = True
        return self._render(request, result, zone)


def _ttl(result: lk.Result) -> int | None:
    """SkyDNS's rule: every record of the answer takes the smallest TTL found (SOA and HINFO keep theirs)."""
    if result.answer and result.answer[0].rtype in (lk.SOA, lk.HINFO):
        return None
    return section_ttl(r.ttl for r in result.answer + result.additional)
