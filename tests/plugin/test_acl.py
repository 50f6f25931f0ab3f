"""acl: allow, block, filter and drop by source network and query type, from real client addresses."""
import dns.edns
import dns.exception
import dns.message
import dns.rcode
import pytest

from helpers import fakeplugins, metric
from skydns import config, testing
from skydns.config.errors import CorefileError


def block(acl):
    return f".:0 {{\n bind 127.0.0.1 ::1\n acl {{\n{acl}\n }}\n answer 10.0.0.1\n}}\n"


def ask(srv, qtype="A", source="127.0.0.1", host="127.0.0.1", edns=-1, name="www.example.org."):
    q = dns.message.make_query(name, qtype, use_edns=edns)
    try:
        return srv.send(q, source=source, host=host, timeout=1)
    except dns.exception.Timeout:
        return None


def test_rules_in_order_first_match_decides(tmp_path):
    rules = ("  block type ANY\n  filter type AAAA net 127.0.0.2\n  drop net 127.0.0.3\n"
             "  allow net 127.0.0.0/8 ::1\n  block\n")
    with testing.serve(block(rules), tmp_path, fakeplugins.registry()) as srv:
        assert ask(srv).answer[0][0].address == "10.0.0.1"  # allowed by 127.0.0.0/8
        r = ask(srv, "ANY")
        assert r.rcode() == dns.rcode.REFUSED and not r.answer  # the first rule, whoever asks
        r = ask(srv, "AAAA", source="127.0.0.2")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer  # filtered
        assert ask(srv, "A", source="127.0.0.2").answer  # not AAAA: allowed further down
        assert ask(srv, source="127.0.0.3") is None  # dropped: no reply at all
        v6 = srv.ports()[("::1", 0)]  # port 0: each listener has its own
        assert srv.send(dns.message.make_query("www.example.org.", "A"), host="::1", port=v6,
                        source="::1").answer  # IPv6 source allowed
        counts = {action: metric(srv, "skydns_acl_requests_total", action=action)
                  for action in ("allow", "block", "filter", "drop")}
        assert counts == {"allow": 3, "block": 1, "filter": 1, "drop": 1}


def test_no_matching_rule_passes_and_extended_errors(tmp_path):
    with testing.serve(block("  block net 10.0.0.0/8\n  filter type MX"), tmp_path, fakeplugins.registry()) as srv:
        assert ask(srv).answer  # no rule matches 127.0.0.1 asking A
        r = ask(srv, "MX", edns=0)
        assert r.rcode() == dns.rcode.NOERROR and not r.answer
        assert [(o.otype, o.code) for o in r.options] == [(dns.edns.OptionType.EDE, 17)]  # Filtered
    with testing.serve(block("  block net 127.0.0.1/32"), tmp_path, fakeplugins.registry()) as srv:
        r = ask(srv, edns=0)
        assert r.rcode() == dns.rcode.REFUSED and [o.code for o in r.options] == [15]  # Blocked
        r = ask(srv)
        assert r.rcode() == dns.rcode.REFUSED and r.edns == -1  # no EDNS in the query: none in the reply


def test_zones_and_several_policies(tmp_path):
    text = (".:0 {\n acl internal.example.org {\n  block\n }\n acl {\n  allow type A\n  block\n }\n"
            " answer 10.0.0.1\n}\n")
    with testing.serve(text, tmp_path, fakeplugins.registry()) as srv:
        assert ask(srv, name="a.internal.example.org.").rcode() == dns.rcode.REFUSED
        assert ask(srv, name="www.example.org.").answer  # first policy is not for it; second allows A
        assert ask(srv, "TXT", name="www.example.org.").rcode() == dns.rcode.REFUSED


@pytest.mark.parametrize("body,message", [
    ("  permit net 10.0.0.0/8", "unknown action 'permit'"),
    ("  block net 10.0.0.300/8", "'10.0.0.300/8' is not an IP address or CIDR network"),
    ("  block type NOPE", "'NOPE' is not a query type"),
    ("  block net", "no value after 'net'"),
    ("  block from 10.0.0.1", "unexpected token 'from'"),
    ("  block type A type AAAA", "'type' given twice"),
])
def test_bad_acl(tmp_path, body, message):
    (tmp_path / "Corefile").write_text(block(body))
    with pytest.raises(CorefileError) as e:
        config.load(str(tmp_path / "Corefile"), fakeplugins.registry())
    assert message in str(e.value) and "Corefile:4" in str(e.value) and "plugin/acl" in str(e.value)


def test_decisions_are_exported(tmp_path):
    from helpers import scrape, value
    mport = testing.free_port()
    text = (f".:0 {{\n prometheus 127.0.0.1:{mport}\n acl {{\n  block type TXT\n  allow\n }}\n"
            " answer 10.0.0.1\n}\n")
    with testing.serve(text, tmp_path, fakeplugins.registry()) as srv:
        ask(srv, "TXT")
        ask(srv)
        ask(srv)
        s = scrape(mport)
    assert value(s, "skydns_acl_requests_total", server=".:0", action="block") == 1
    assert value(s, "skydns_acl_requests_total", server=".:0", action="allow") == 2
    assert value(s, "skydns_acl_requests_total", server=".:0", action="drop") == 0


def test_ipv6_networks(tmp_path):
    """An IPv6 network matches IPv6 clients only; an IPv4 client is not in it."""
    text = block("  block net ::1/128\n  filter net 2001:db8::/32")
    with testing.serve(text, tmp_path, fakeplugins.registry()) as srv:
        v6 = srv.ports()[("::1", 0)]
        r = srv.send(dns.message.make_query("www.example.org.", "A"), host="::1", port=v6, source="::1")
        assert r.rcode() == dns.rcode.REFUSED
        assert ask(srv).answer  # 127.0.0.1 is in neither network
