"""any: RFC 8482's minimal answer to ANY, other types passed on."""
import dns.message
import dns.rdatatype

from helpers import fakeplugins
from skydns import testing


def test_any_gets_one_hinfo_others_pass(tmp_path):
    with testing.serve(".:0 {\n any\n answer 10.0.0.1\n}\n", tmp_path, fakeplugins.registry()) as srv:
        for edns in (-1, 0):
            q = dns.message.make_query("Www.Example.ORG.", "ANY", use_edns=edns, want_dnssec=edns == 0)
            r = srv.send(q)
            assert r.id == q.id and r.rcode() == 0 and r.edns == edns
            assert r.question[0].name.to_text() == "Www.Example.ORG."  # the client's spelling
            (rrset,) = r.answer
            assert rrset.rdtype == dns.rdatatype.HINFO and rrset.ttl == 8482
            assert rrset.name.to_text() == "Www.Example.ORG."
            assert (rrset[0].cpu, rrset[0].os) == (b"RFC8482", b"")
            if edns == 0:
                assert r.ednsflags & dns.flags.DO
        r = srv.query(".", "ANY")
        assert r.answer[0].name.to_text() == "." and r.answer[0].rdtype == dns.rdatatype.HINFO
        assert srv.query("www.example.org.", "A").answer[0][0].address == "10.0.0.1"


def test_any_takes_no_arguments(tmp_path):
    import pytest

    from skydns import config
    from skydns.config.errors import CorefileError
    (tmp_path / "Corefile").write_text(". {\n any all\n whoami\n}\n")
    with pytest.raises(CorefileError, match="Corefile:2 - plugin/any: wrong argument count"):
        config.load(str(tmp_path / "Corefile"))
