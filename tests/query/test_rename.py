"""A reply given the client's question on the wire: what a rewriting plugin hands back, without dnspython."""
import dns.flags
import dns.message
import dns.rrset
import pytest

from skydns.query.rename import Unreadable, rename


def rrset(text):
    """``OWNER TTL TYPE RDATA...`` as an RRset."""
    owner, ttl, rtype, rdata = text.split(" ", 3)
    return dns.rrset.from_text(owner, int(ttl), "IN", rtype, rdata)


def reply_for(name, records, authority=(), additional=(), edns=False):
    """dnspython's rendering of a reply to ``name``: names compressed against the question and each other."""
    q = dns.message.make_query(name, "A", use_edns=0 if edns else None)
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    for section, texts in ((r.answer, records), (r.authority, authority), (r.additional, additional)):
        for text in texts:
            found = [s for s in section if s.name == rrset(text).name and s.rdtype == rrset(text).rdtype]
            if found:
                found[0].update(rrset(text))
            else:
                section.append(rrset(text))
    return r.to_wire()


def question(name, qtype="A"):
    wire = dns.message.make_query(name, qtype).to_wire()
    return wire[12:]


@pytest.mark.parametrize("records, authority, additional", [
    (["svc.internal. 60 A 10.0.0.1", "svc.internal. 60 A 10.0.0.2"], [], []),
    (["svc.internal. 60 CNAME web.internal.", "web.internal. 30 A 10.0.0.3"], [], []),
    (["svc.internal. 60 MX 10 mail.internal."], [], ["mail.internal. 60 A 10.0.0.25"]),
    (["svc.internal. 60 SRV 10 100 80 svc.internal."], [], ["svc.internal. 60 A 10.0.0.4"]),
    ([], ["internal. 30 SOA ns.dns.internal. hostmaster.internal. 7 28800 7200 604800 30"], []),
    (["svc.internal. 60 TXT \"hello\" \"world\"", "svc.internal. 60 NS ns1.svc.internal."], [], []),
])
@pytest.mark.parametrize("asked", ["www.example.org.", "WwW.Example.ORG.", "a.very.long.name.example.com."])
def test_renamed_reply_is_the_one_dnspython_would_write_for_the_client(records, authority, additional, asked):
    """The question becomes the client's (spelling kept), records of the old name belong to it, every other
    name and rdata stays, and the result parses: compression pointers rewritten, not copied."""
    old = reply_for("svc.internal.", records, authority, additional, edns=True)
    new = dns.message.from_wire(rename(old, question(asked)))
    before = dns.message.from_wire(old)
    assert new.question[0].name.to_text() == asked and new.id == before.id and new.flags == before.flags
    assert new.edns == before.edns
    def norm(section, owner_from, owner_to):
        out = []
        for rrset in section:
            owner = owner_to if rrset.name == dns.name.from_text(owner_from) else rrset.name.to_text()
            out.extend(f"{owner.lower()} {rrset.ttl} {rd.to_text()}" for rd in rrset)
        return sorted(out)
    for a, b in ((new.answer, before.answer), (new.authority, before.authority), (new.additional, before.additional)):
        assert norm(a, asked, asked) == norm(b, "svc.internal.", asked)


def test_owners_left_as_they_are_when_asked():
    old = reply_for("svc.internal.", ["svc.internal. 60 A 10.0.0.1"])
    new = dns.message.from_wire(rename(old, question("www.example.org."), owners=False))
    assert new.question[0].name.to_text() == "www.example.org." and new.answer[0].name.to_text() == "svc.internal."


def test_unreadable_replies_are_refused():
    with pytest.raises(Unreadable):
        rename(b"\x00" * 12 + b"\x05abc", question("a.example."))
    with pytest.raises(Unreadable):
        rename(bytes.fromhex("000081800001000100000000") + b"\xc0\x0c\x00\x01\x00\x01", question("a.example."))
