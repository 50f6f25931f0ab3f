"""Reading queries from the wire without dnspython, checked against dnspython."""
import dns.edns
import dns.message
import dns.name
import dns.tsigkeyring
import pytest

from skydns.query.request import MalformedQuery, Request


def read(q, proto="udp"):
    return Request(q.to_wire() if hasattr(q, "to_wire") else q, ("127.0.0.1", 5), proto)


@pytest.mark.parametrize("name", ["example.org.", "WWW.Example.Org.", ".", "*.any.x.", "_srv._tcp.a-b.c."])
@pytest.mark.parametrize("qtype", ["A", "AAAA", "SRV", "DS", "TYPE65280"])
def test_question_fields(name, qtype):
    q = dns.message.make_query(name, qtype)
    r = read(q)
    assert r.qname == dns.name.from_text(name).to_text().lower()
    assert r.qtype == q.question[0].rdtype and r.qclass == 1 and r.id == q.id
    assert r.edns == -1 and r.bufsize == 512 and not r.do
    assert r._message is None  # nothing parsed by dnspython


def test_edns_fields_without_dnspython():
    q = dns.message.make_query("a.", "A", use_edns=0, payload=4096, want_dnssec=True,
                               options=[dns.edns.GenericOption(65001, b"mark")])
    r = read(q)
    assert (r.edns, r.bufsize, r.do) == (0, 4096, True)
    assert r.edns_options == b"\xfd\xe9\x00\x04mark"
    assert r._message is None
    assert read(dns.message.make_query("a.", "A", use_edns=0, payload=100)).bufsize == 512


def test_odd_labels_use_escaped_text():
    name = dns.name.Name([b"a.b", b"\x00\xff", b"Q", b""])
    r = read(dns.message.make_query(name, "A"))
    assert r.qname == name.to_text().lower() == "a\\.b.\\000\\255.q."


def test_unusual_queries_read_by_dnspython():
    """TSIG and records in other sections go to dnspython, which still fills the fields."""
    q = dns.message.make_query("a.example.", "A", use_edns=0, payload=2000)
    q.use_tsig(dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0"}), keyname="k.")
    r = read(q)
    assert r._message is not None and r._message.had_tsig
    assert r.qname == "a.example." and r.bufsize == 2000


@pytest.mark.parametrize("data, why", [
    (b"\x00\x01", "short header"),
    (b"\x00\x01\x81\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01", "not a query"),
    (b"\x00\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00", "0 questions"),
    (b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ab", "truncated"),
    (b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01", "compressed"),
    (b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01", "truncated"),
    (b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x01\x00\x00\x01\x00\x01\x00\x00\x29", "truncated OPT"),
])
def test_malformed(data, why):
    with pytest.raises(MalformedQuery, match=why):
        read(data)


def test_long_name_refused():
    data = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01"
    with pytest.raises(MalformedQuery, match="too long"):
        read(data)


def test_reply_keeps_case_edns_and_do():
    q = dns.message.make_query("Mixed.Case.", "A", use_edns=0, want_dnssec=True)
    r = read(q).reply(authoritative=True)
    assert r.question[0].name.to_text() == "Mixed.Case."
    assert r.edns == 0 and r.payload == 1232 and r.ednsflags & dns.flags.DO
    assert r.flags & dns.flags.AA and r.id == q.id


def test_ipv4_mapped_client_is_plain_ipv4():
    r = Request(dns.message.make_query("a.", "A").to_wire(), ("::ffff:10.1.2.3", 9, 0, 0), "udp")
    assert r.client == ("10.1.2.3", 9)


@pytest.mark.parametrize("query", [
    dns.message.make_query("Www.Example.ORG.", "A"),
    dns.message.make_query("svc.example.", "SRV", use_edns=0, want_dnssec=True, payload=1232,
                           options=[dns.edns.GenericOption(65001, b"x")]),
])
def test_repeat_equals_a_fresh_parse(query):
    """Request.repeat (the raw path's copy) gives every field a parse of the same bytes gives."""
    first = Request(query.to_wire(), ("10.0.0.1", 1000), "udp")
    first.block, first.zone = object(), "example."
    query.id = (query.id + 7) % 65536
    data = query.to_wire()
    again = first.repeat(data, ("::ffff:10.0.0.2", 2000), "tcp")
    fresh = Request(data, ("::ffff:10.0.0.2", 2000), "tcp")
    fresh.block, fresh.zone = first.block, first.zone
    for slot in Request.__slots__:
        if slot != "started":
            assert getattr(again, slot) == getattr(fresh, slot), slot
    assert again.id == query.id and again.client == ("10.0.0.2", 2000)
    assert again.started >= first.started


def test_names_seen_before_read_the_same():
    """The second read of a name (recognised by its bytes) gives what the first gave: case kept in
    the question, lower case in qname, odd labels escaped, a zero byte inside a label included."""
    import dns.name
    names = ["Www.Example.ORG.", "www.example.org.", ".", dns.name.Name([b"a\x00b", b"example", b""]),
             dns.name.Name([b"a", b""]), dns.name.Name([b"we.ird", b"example", b""])]
    for name in names:
        q = dns.message.make_query(name, "A", use_edns=0)
        first = Request(q.to_wire(), ("10.0.0.1", 1), "udp")
        again = Request(q.to_wire(), ("10.0.0.1", 1), "udp")
        assert (again.qname, again.question_wire, again.edns) == (first.qname, first.question_wire, first.edns)
        assert first.qname == dns.name.from_wire(q.to_wire(), 12)[0].to_text().lower()
    # A known name followed by a cut-off question is still refused.
    data = dns.message.make_query("www.example.org.", "A").to_wire()
    Request(data, ("10.0.0.1", 1), "udp")
    with pytest.raises(MalformedQuery, match="truncated question"):
        Request(data[:-3], ("10.0.0.1", 1), "udp")


def test_derive_asks_for_another_name_and_type_with_every_slot_shared():
    """A derived request's wire, question and name agree; client, sender, block, hops, started,
    dependencies, observers and metadata are the original's."""
    from skydns import testing

    q = dns.message.make_query("WwW.Example.org.", "A", use_edns=0, payload=4096, want_dnssec=True)
    q.id = 4321
    req = testing.request(q, client=("10.1.2.3", 999), proto="tcp")
    req.hops, req.dependencies, req.zone = 2, [], "example.org."
    req.observe(lambda r, d: None)
    derived = req.derive("other.example.net.", 28)
    parsed = dns.message.from_wire(derived.wire)
    assert (derived.qname, derived.qtype) == ("other.example.net.", 28)
    assert parsed.id == 4321 and parsed.question[0].name.to_text() == "other.example.net."
    assert parsed.question[0].rdtype == 28 and parsed.edns == 0 and parsed.payload == 4096
    assert derived.message.question[0].name == parsed.question[0].name  # parsed from the new wire
    for slot in ("client", "peer", "sender", "proto", "hops", "started", "zone", "dependencies", "observers",
                 "bufsize", "do", "edns"):
        assert getattr(derived, slot) is getattr(req, slot), slot
    derived.set_meta("rewrite/from", "www.example.org.")
    assert req.get_meta("rewrite/from") == "www.example.org."  # published on either, seen on both
    same_name = req.derive(qtype=16)
    assert same_name.qname == req.qname and same_name.question_wire[:-4] == req.question_wire[:-4]
    with pytest.raises(ValueError):
        req.derive(".".join(["a" * 60] * 5) + ".")


def test_metadata_values_may_be_computed_when_read():
    from skydns import testing

    req = testing.request("a.example.")
    assert req.get_meta("x/y") is None
    calls = []
    req.set_meta("x/y", lambda: calls.append(1) or "late")
    assert calls == [] and req.get_meta("x/y") == "late" and calls == [1]
