"""The answer builder over a plain record source: its wire renderer gives the message dnspython would."""
import json

import dns.message
import pytest

from skydns.msg.service import dedupe, from_json, group_filter
from skydns.query.answers import Answers, Settings
from skydns.query.request import Request

SERVICES = {
    "web.skydns.local.": {"host": "10.0.0.1"},
    "x1.db.skydns.local.": {"host": "10.0.0.2", "port": 5432},
    "x2.db.skydns.local.": {"host": "10.0.0.3", "port": 5432, "weight": 50},
    "x3.db.skydns.local.": {"host": "2001:db8::3", "port": 5432, "priority": 20},
    "x4.db.skydns.local.": {"host": "web.skydns.local", "port": 80},
    "x5.db.skydns.local.": {"host": "db.example.com", "port": 80},
    "mx.mail.skydns.local.": {"host": "10.0.0.25", "mail": True, "priority": 5},
    "mx2.mail.skydns.local.": {"host": "web.skydns.local", "mail": True},
    "t.skydns.local.": {"text": "hello " * 60},
    "alias.skydns.local.": {"host": "db.skydns.local"},
    "ns1.ns.dns.skydns.local.": {"host": "10.0.0.53"},
    "125.1.0.10.in-addr.arpa.": {"host": "web.skydns.local"},
    "a.b.c.d.deep.skydns.local.": {"host": "10.9.9.9", "targetstrip": 2, "port": 1},
}


class Services:
    """A record source that only yields services (no etcd): a dict of names, SkyDNS's aggregation by hand."""

    def __init__(self):
        self.by_name = {name: from_json(json.dumps(value), name) for name, value in SERVICES.items()}

    def services(self, name, exact=False):
        found = [s for n, s in sorted(self.by_name.items())
                 if n == name or (not exact and _below(n, name))]
        if not found:
            return [] if any(_below(n, name) for n in self.by_name) else None
        return dedupe(found) if exact else dedupe(group_filter(found))


def _below(name, parent):
    labels, top = name.rstrip(".").split("."), parent.rstrip(".").split(".")
    if len(labels) < len(top):
        return False
    tail = labels[len(labels) - len(top):]
    return all(t in ("*", "any") or t == x for t, x in zip(top, tail, strict=True))


@pytest.fixture(scope="module", params=["dns@example.org", None])
def handler(request):
    """A hostmaster outside the zone (the general writer), and the default one (denials from a template)."""
    return Answers(Services(), Settings(["skydns.local.", "in-addr.arpa."], hostmaster=request.param),
                   serial=lambda zone: 42)


QUERIES = [(n, t) for n in ("web.skydns.local.", "db.skydns.local.", "WEB.SkyDNS.local.", "alias.skydns.local.",
                            "mail.skydns.local.", "t.skydns.local.", "skydns.local.", "*.db.skydns.local.",
                            "nope.skydns.local.", "deep.skydns.local.", "local.dns.skydns.local.")
           for t in ("A", "AAAA", "SRV", "MX", "TXT", "NS", "SOA", "CNAME", "ANY", "NAPTR")]
QUERIES.append(("125.1.0.10.in-addr.arpa.", "PTR"))


@pytest.mark.parametrize("qname, qtype", QUERIES)
@pytest.mark.parametrize("edns", [{}, {"use_edns": 0, "want_dnssec": True}])
def test_wire_equals_dnspython(handler, qname, qtype, edns):
    q = dns.message.make_query(qname, qtype, **edns)
    req = Request(q.to_wire(), ("127.0.0.1", 1), "udp")
    if qtype == "PTR":
        result, zone = handler.ptr(req), None
    else:
        zone = "skydns.local."
        result = handler.lookup(req, zone)
    if result.externals:
        return  # answers with upstream parts are always built by dnspython
    fast = handler._render(Request(q.to_wire(), ("127.0.0.1", 1), "udp"), result, zone)
    slow = handler._render_dnspython(Request(q.to_wire(), ("127.0.0.1", 1), "udp"), result, zone)
    assert isinstance(fast, bytes)
    slow_wire = slow.to_wire()
    a, b = dns.message.from_wire(fast), dns.message.from_wire(slow_wire)
    assert a == b
    assert sorted(a.to_text().splitlines()) == sorted(b.to_text().splitlines())  # TTLs, flags, rcode, EDNS too
    assert len(fast) == len(slow_wire)


def test_denials_of_random_names_come_from_the_template(handler):
    """NXDOMAIN and NODATA for names never seen (a random-name flood's path): the same bytes as the general
    writer, whatever the case and length of the name."""
    from skydns.query.answers import render

    for qname, qtype in (("x7kq2.skydns.local.", "A"), ("A.B.C.Nope.SKYDNS.local.", "AAAA"),
                         ("skydns.local.", "NAPTR"), ("web.skydns.local.", "TXT")):
        for edns in ({}, {"use_edns": 0, "want_dnssec": True}):
            q = dns.message.make_query(qname, qtype, **edns)
            req = Request(q.to_wire(), ("127.0.0.1", 1), "udp")
            result = handler.lookup(req, "skydns.local.")
            assert not result.answer
            soa = handler.rules.soa("skydns.local.", 30)
            fast = render.render_denial(req, result, soa)
            if handler.settings.hostmaster:
                assert fast is None  # the mailbox is outside the zone: the general writer
                continue
            general = handler._render_dnspython(Request(q.to_wire(), ("127.0.0.1", 1), "udp"), result,
                                                "skydns.local.").to_wire()
            a, b = dns.message.from_wire(fast), dns.message.from_wire(general)
            assert a == b and a.to_text() == b.to_text() and len(fast) == len(general)
