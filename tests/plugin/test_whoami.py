"""whoami: the fast wire-built reply equals the reply dnspython would build."""
import dns.flags
import dns.message
import dns.rrset
import pytest

from skydns.plugin.whoami.whoami import Whoami
from skydns.query.request import Request


def expected(query: dns.message.Message, host, port, proto, rtype):
    r = dns.message.make_response(query, our_payload=1232)
    r.flags |= dns.flags.AA | (query.flags & dns.flags.CD)
    if query.edns >= 0 and query.ednsflags & dns.flags.DO:
        r.ednsflags |= dns.flags.DO
    name = query.question[0].name
    r.additional.append(dns.rrset.from_text(name, 0, "IN", rtype, host))
    srv_name = dns.name.Name((f"_{proto}".encode(),) + name.labels)
    r.additional.append(dns.rrset.from_text(srv_name, 0, "IN", "SRV", f"0 0 {port} ."))
    return r.to_wire()


@pytest.mark.parametrize("qname", ["example.org.", "WwW.Example.ORG.", ".", "a-b_c.d."])
@pytest.mark.parametrize("host, rtype", [("127.0.0.1", "A"), ("2001:db8::1", "AAAA")])
@pytest.mark.parametrize("proto", ["udp", "tcp"])
@pytest.mark.parametrize("edns", [dict(), dict(use_edns=0), dict(use_edns=0, want_dnssec=True)])
def test_wire_reply_equals_dnspython(qname, host, rtype, proto, edns):
    """Byte for byte the same as dnspython's rendering, for names, families, transports, EDNS."""
    q = dns.message.make_query(qname, "A", **edns)
    q.flags |= dns.flags.CD
    got = Whoami().serve(Request(q.to_wire(), (host, 5353), proto))
    assert got == expected(q, host, 5353, proto, rtype)


def test_whoami_takes_no_arguments(tmp_path):
    from skydns import config
    from skydns.config.errors import CorefileError
    p = tmp_path / "Corefile"
    p.write_text(". {\n whoami foo\n}\n")
    with pytest.raises(CorefileError, match=r"Corefile:2 - plugin/whoami: wrong argument count"):
        config.load(str(p))
