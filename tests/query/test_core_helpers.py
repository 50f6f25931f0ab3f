"""The helpers plugins share from the core: zones and wildcards, TTL and TXT rules, rcodes, the Reply view."""
import dns.flags
import dns.message
import dns.rcode
import dns.rdata
import dns.rrset
import pytest

from skydns.query import dnsutil, rcode, zones
from skydns.query.reply import Reply


@pytest.mark.parametrize("name, expected", [
    ("www.example.org.", "example.org."),
    ("a.b.sub.example.org.", "sub.example.org."),
    ("example.org.", "example.org."),
    ("myexample.org.", "org."),  # whole labels only
    ("example.net.", "."),
])
def test_in_zones_most_specific_whole_labels(name, expected):
    assert zones.in_zones(name, ["org.", "example.org.", "sub.example.org.", "."]) == expected


def test_in_zones_none_and_subdomain():
    assert zones.in_zones("example.net.", ["example.org."]) is None
    assert zones.is_subdomain("a.example.org.", "example.org.") and zones.is_subdomain("x.", ".")
    assert not zones.is_subdomain("aexample.org.", "example.org.")


def test_wildcards():
    assert zones.WILDCARDS == {"*", "any"}
    assert zones.has_wildcard("*.east.skydns.local.") and zones.has_wildcard("a.any.skydns.local.")
    assert not zones.has_wildcard("anything.skydns.local.")
    pattern = ["local", "skydns", "*", "web"]
    assert zones.wildcard_matches(pattern, ["local", "skydns", "east", "web"])
    assert zones.wildcard_matches(pattern, ["local", "skydns", "east", "web", "x1"])  # below it
    assert not zones.wildcard_matches(pattern, ["local", "skydns", "east"])  # above it
    assert not zones.wildcard_matches(pattern, ["local", "skydns", "east", "db"])


def test_strip_labels():
    assert zones.strip_labels("a.b.example.org.", 2) == "example.org."
    assert zones.strip_labels("a.b.", 5) == "a.b."
    assert zones.strip_labels("a.b.", 0) == "a.b."


def test_txt_strings_and_wire():
    assert dnsutil.txt_strings("") == [b""]
    assert [len(s) for s in dnsutil.txt_strings("x" * 600)] == [255, 255, 90]
    wire = dnsutil.txt_wire("hi")
    assert wire == b"\x02hi"
    # dnspython reads what txt_wire writes
    rd = dns.rdata.from_wire(1, 16, dnsutil.txt_wire("y" * 300), 0, 302)
    assert b"".join(rd.strings) == b"y" * 300


def test_ttl_rules():
    assert dnsutil.section_ttl([300, 60, 3600]) == 60 and dnsutil.section_ttl([]) is None
    assert dnsutil.bounded_ttl(10, 5, 30) == 10
    assert dnsutil.bounded_ttl(1, 5, 30) == 5
    assert dnsutil.bounded_ttl(3600, 5, 30) == 30


def test_rcodes_are_dnspythons():
    for name in ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "NOTAUTH", "BADVERS"):
        assert getattr(rcode, name) == getattr(dns.rcode, name)


def answer(address="192.0.2.1", edns=True):
    q = dns.message.make_query("www.example.org.", "A", use_edns=0 if edns else None)
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    r.answer.append(dns.rrset.from_text("www.example.org.", 60, "IN", "A", address))
    return r


def test_reply_from_bytes_parses_only_when_asked():
    data = answer().to_wire()
    reply = Reply(data)
    assert reply.has_wire and reply.wire is data and reply.result is data
    assert reply.rcode == 0 and reply.counts == (1, 1, 0, 1) and reply.flags & dns.flags.AA
    assert reply._message is None  # nothing parsed for the header
    assert reply.message.answer[0][0].address == "192.0.2.1"
    assert reply.message is reply.message  # parsed once
    assert reply.result is data  # unchanged: the bytes go on


def test_reply_from_a_message_renders_only_when_asked():
    msg = answer()
    msg.set_rcode(dns.rcode.NXDOMAIN)
    reply = Reply(msg)
    assert not reply.has_wire and reply.result is msg and reply.message is msg
    assert reply.rcode == dns.rcode.NXDOMAIN and reply.counts == (1, 1, 0, 1)
    wire = reply.wire
    assert reply.wire is wire and reply.result is wire  # rendered once, then handed on as bytes
    assert dns.message.from_wire(wire).rcode() == dns.rcode.NXDOMAIN


def test_reply_refuses_other_types():
    with pytest.raises(TypeError):
        Reply(42)
