"""Every example of the SkyDNS documents (seeds), answered from a real etcd, checked as the seed shows it.

Where a seed shows an SRV weight that the SPEC's formula contradicts (old SkyDNS
versions printed 0 or 20), the SPEC wins: weights are percentages per priority.
"""
import dns.flags
import dns.rcode
import pytest

from helpers import fakeplugins
from skydns import testing

Z = "skydns.local"


def lines(msg, section="answer"):
    return testing.rrsets(msg, section)


@pytest.fixture
def rails(data):
    data.put("1.rails.production.east.skydns.local", {"host": "service1.example.com", "port": 8080})
    data.put("2.rails.production.west.skydns.local", {"host": "service2.example.com", "port": 8080})
    data.put("4.rails.staging.east.skydns.local", {"host": "10.0.1.125", "port": 8080})
    data.put("6.rails.staging.east.skydns.local", {"host": "2003::8:1", "port": 8080})
    return data


def test_web01_east_blog_examples(tmp_path, data):
    """SkyDNS2 announcement: web01/web02 in east, SRV synthesis, subdomain A, wildcard SRV."""
    data.put("web01.east.skydns.local", {"Port": 80, "Host": "10.0.0.1"})
    data.put("web02.east.skydns.local", {"port": 80, "host": "10.0.0.2"})
    data.put("web01.west.skydns.local", {"port": 80, "host": "10.0.1.1"})
    with testing.serve(data.block(), tmp_path) as srv:
        assert lines(srv.query("web01.east.skydns.local.", "A")) == ["web01.east.skydns.local. 3600 IN A 10.0.0.1"]
        assert lines(srv.query("east.skydns.local.", "A")) == [
            "east.skydns.local. 3600 IN A 10.0.0.1", "east.skydns.local. 3600 IN A 10.0.0.2"]
        r = srv.query("web01.east.skydns.local.", "SRV")
        assert lines(r) == ["web01.east.skydns.local. 3600 IN SRV 10 100 80 web01.east.skydns.local."]
        assert lines(r, "additional") == ["web01.east.skydns.local. 3600 IN A 10.0.0.1"]
        r = srv.query("web01.*.skydns.local.", "SRV")
        assert lines(r) == ["web01.*.skydns.local. 3600 IN SRV 10 50 80 web01.east.skydns.local.",
                            "web01.*.skydns.local. 3600 IN SRV 10 50 80 web01.west.skydns.local."]
        assert lines(r, "additional") == ["web01.east.skydns.local. 3600 IN A 10.0.0.1",
                                          "web01.west.skydns.local. 3600 IN A 10.0.1.1"]
        assert r.flags & dns.flags.AA


def test_rails_services(tmp_path, rails):
    """README: the rails services: name hosts, IPv4/IPv6 hosts, subdomains, SRV additional."""
    with testing.serve(rails.block(), tmp_path) as srv:
        r = srv.query("1.rails.production.east.skydns.local.", "SRV")
        assert lines(r) == ["1.rails.production.east.skydns.local. 3600 IN SRV 10 100 8080 service1.example.com."]
        r = srv.query("east.skydns.local.", "SRV")
        assert lines(r) == sorted([
            "east.skydns.local. 3600 IN SRV 10 33 8080 service1.example.com.",
            "east.skydns.local. 3600 IN SRV 10 33 8080 4.rails.staging.east.skydns.local.",
            "east.skydns.local. 3600 IN SRV 10 33 8080 6.rails.staging.east.skydns.local."])
        assert lines(r, "additional") == [
            "4.rails.staging.east.skydns.local. 3600 IN A 10.0.1.125",
            "6.rails.staging.east.skydns.local. 3600 IN AAAA 2003::8:1"]
        r = srv.query("staging.east.skydns.local.", "SRV")
        assert lines(r) == [
            "staging.east.skydns.local. 3600 IN SRV 10 50 8080 4.rails.staging.east.skydns.local.",
            "staging.east.skydns.local. 3600 IN SRV 10 50 8080 6.rails.staging.east.skydns.local."]
        assert lines(srv.query("4.rails.staging.east.skydns.local.", "A")) == [
            "4.rails.staging.east.skydns.local. 3600 IN A 10.0.1.125"]
        assert lines(srv.query("staging.east.skydns.local.", "A")) == ["staging.east.skydns.local. 3600 IN A 10.0.1.125"]
        assert lines(srv.query("staging.east.skydns.local.", "AAAA")) == ["staging.east.skydns.local. 3600 IN AAAA 2003::8:1"]
        # Wildcards anywhere, any as a synonym, several per name.
        for q, n in (("staging.*.skydns.local.", 2), ("staging.any.skydns.local.", 2),
                     ("*.rails.*.east.skydns.local.", 3), ("any.any.staging.east.skydns.local.", 2), ("any.web.*.skydns.local.", 0),
                     ("any.rails.staging.east.skydns.local.", 2), ("*.*.*.*.skydns.local.", 4)):
            r = srv.query(q, "SRV")
            assert sum(len(x) for x in r.answer) == n, q
            assert r.rcode() == (dns.rcode.NXDOMAIN if n == 0 else dns.rcode.NOERROR)


def test_targetstrip(tmp_path, data):
    """README: targetstrip 2 turns 4.rails.staging.east's target into staging.east."""
    data.put("4.rails.staging.east.skydns.local", {"host": "10.0.1.125", "port": 8080, "targetstrip": 2})
    with testing.serve(data.block(), tmp_path) as srv:
        r = srv.query("4.rails.staging.east.skydns.local.", "SRV")
        assert lines(r) == ["4.rails.staging.east.skydns.local. 3600 IN SRV 10 100 8080 staging.east.skydns.local."]
        assert lines(r, "additional") == ["staging.east.skydns.local. 3600 IN A 10.0.1.125"]


def test_bar_two_ports_one_name(tmp_path, data):
    """README: bar with x1 (targetstrip 1) and x2 (host bar itself) gives two SRVs and one A."""
    data.put("x1.bar.skydns.local", {"host": "192.168.0.1", "port": 80, "targetstrip": 1})
    data.put("x2.bar.skydns.local", {"host": "bar.skydns.local", "port": 443})
    with testing.serve(data.block(), tmp_path) as srv:
        r = srv.query("bar.skydns.local.", "SRV")
        assert lines(r) == ["bar.skydns.local. 3600 IN SRV 10 50 443 bar.skydns.local.",
                            "bar.skydns.local. 3600 IN SRV 10 50 80 bar.skydns.local."]
        assert lines(r, "additional") == ["bar.skydns.local. 3600 IN A 192.168.0.1"]


def test_db_round_robin_set(tmp_path, data):
    """README: x1..x3 under db make db.skydns.local one name with three addresses."""
    for i in (1, 2, 3):
        data.put(f"x{i}.db.skydns.local", {"host": f"127.0.0.{i}"})
    with testing.serve(data.block(), tmp_path) as srv:
        assert lines(srv.query("db.skydns.local.", "A")) == [
            f"db.skydns.local. 3600 IN A 127.0.0.{i}" for i in (1, 2, 3)]


def test_internal_cname_chain(tmp_path, data):
    """README: 1.rails.production.east -> service1.skydns.local -> 10.0.2.15."""
    data.put("1.rails.production.east.skydns.local", {"host": "service1.skydns.local", "port": 8080})
    data.put("service1.skydns.local", {"host": "10.0.2.15", "port": 8080})
    with testing.serve(data.block(), tmp_path) as srv:
        r = srv.query("1.rails.production.east.skydns.local.", "A")
        assert [rr.to_text() for rr in r.answer] == [
            "1.rails.production.east.skydns.local. 3600 IN CNAME service1.skydns.local.",
            "service1.skydns.local. 3600 IN A 10.0.2.15"]


def test_external_cname_resolved_through_the_server(tmp_path, data):
    """README: a target outside the zone is looked up by the server itself and its answer appended."""
    data.put("1.rails.production.east.skydns.local", {"host": "www.miek.nl", "port": 8080})
    text = data.block() + ".:0 {\n answer 176.58.119.54\n}\n"
    with testing.serve(text, tmp_path, fakeplugins.registry()) as srv:
        r = srv.query("1.rails.production.east.skydns.local.", "A")
        # SkyDNS's rule: the answer's records share its smallest TTL, the upstream's included
        assert [rr.to_text() for rr in r.answer] == [
            "1.rails.production.east.skydns.local. 30 IN CNAME www.miek.nl.",
            "www.miek.nl. 30 IN A 176.58.119.54"]
        # An SRV whose target is external gets the target's address in additional.
        r = srv.query("1.rails.production.east.skydns.local.", "SRV")
        assert lines(r, "additional") == ["www.miek.nl. 30 IN A 176.58.119.54"]


def test_external_cname_that_does_not_resolve_is_left_out(tmp_path, data):
    """With nothing to answer the external name, the CNAME is left out (NODATA)."""
    data.put("1.rails.production.east.skydns.local", {"host": "www.miek.nl", "port": 8080})
    with testing.serve(data.block(), tmp_path) as srv:
        r = srv.query("1.rails.production.east.skydns.local.", "A")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer
        assert r.authority[0].rdtype == dns.rdatatype.SOA


def test_a_chain_ending_outside_unresolved_is_left_out_whole(tmp_path, data):
    """a -> b (inside) -> www.miek.nl (outside, unanswered): neither CNAME is answered; when the outside name
    resolves, the whole chain is, each hop once."""
    data.put("a.skydns.local", {"host": "b.skydns.local"})
    data.put("b.skydns.local", {"host": "www.miek.nl"})
    with testing.serve(data.block(), tmp_path) as srv:
        r = srv.query("a.skydns.local.", "A")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer, r
        assert r.authority[0].rdtype == dns.rdatatype.SOA
    text = data.block() + ".:0 {\n answer 176.58.119.54\n}\n"
    with testing.serve(text, tmp_path, fakeplugins.registry()) as srv:
        assert lines(srv.query("a.skydns.local.", "A")) == [
            "a.skydns.local. 30 IN CNAME b.skydns.local.", "b.skydns.local. 30 IN CNAME www.miek.nl.",
            "www.miek.nl. 30 IN A 176.58.119.54"]


def test_apex_ns_without_dns_ns_keys(tmp_path, data):
    """Without dns/ns keys the apex's NS is the SOA's MNAME, ns.dns.<zone>: what a transfer carries too."""
    data.put("web.skydns.local", {"host": "10.0.0.1"})
    with testing.serve(data.block(), tmp_path) as srv:
        r = srv.query("skydns.local.", "NS")
        assert lines(r) == ["skydns.local. 3600 IN NS ns.dns.skydns.local."]
        assert srv.query("skydns.local.", "SOA").answer[0][0].mname.to_text() == "ns.dns.skydns.local."


def test_ns_records(tmp_path, data):
    """README: dns/ns/ns1 makes ns1.ns.dns.skydns.local the zone's nameserver, with glue."""
    data.put("ns1.ns.dns.skydns.local", {"host": "172.16.0.1"})
    with testing.serve(data.block(), tmp_path) as srv:
        r = srv.query("skydns.local.", "NS")
        assert lines(r) == ["skydns.local. 3600 IN NS ns1.ns.dns.skydns.local."]
        assert lines(r, "additional") == ["ns1.ns.dns.skydns.local. 3600 IN A 172.16.0.1"]


def test_ptr(tmp_path, data):
    """README: /skydns/arpa/in-addr/10/0/1/125 answers the PTR for 10.0.1.125, not authoritative."""
    data.put_key("/arpa/in-addr/10/0/1/125", '{"host": "4.rails.staging.east.skydns.local"}')
    text = data.block(zones="skydns.local in-addr.arpa")
    with testing.serve(text, tmp_path) as srv:
        r = srv.query("125.1.0.10.in-addr.arpa.", "PTR")
        assert lines(r) == ["125.1.0.10.in-addr.arpa. 3600 IN PTR 4.rails.staging.east.skydns.local."]
        assert not r.flags & dns.flags.AA


def test_ptr_absent_goes_down_the_chain(tmp_path, data):
    """A PTR with no key falls through to the next plugin."""
    text = (f".:0 {{\n etcd skydns.local {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n"
            " answer 10.9.9.9\n}\n")
    with testing.serve(text, tmp_path, fakeplugins.registry()) as srv:
        r = srv.query("9.9.9.10.in-addr.arpa.", "PTR")
        assert r.answer[0].rdtype == dns.rdatatype.A  # the fake plugin after etcd answered


def test_host_local_value(tmp_path, data):
    """README: with 'local NAME', local.dns.skydns.local answers as NAME does."""
    data.put("public.addresses.skydns.local", {"host": "192.0.2.1"})
    with testing.serve(data.block(extra="  local public.addresses.skydns.local\n"), tmp_path) as srv:
        assert lines(srv.query("local.dns.skydns.local.", "A")) == ["local.dns.skydns.local. 3600 IN A 192.0.2.1"]


def test_groups(tmp_path, data):
    """README: groups g1/g2 keep domain.local and subdom.domain.local apart."""
    data.put_key("/local/domain/a", '{"host": "127.0.0.1", "group": "g1"}')
    data.put_key("/local/domain/b", '{"host": "127.0.0.2", "group": "g1"}')
    data.put_key("/local/domain/subdom/c", '{"host": "127.0.0.3", "group": "g2"}')
    data.put_key("/local/domain/subdom/d", '{"host": "127.0.0.4", "group": "g2"}')
    data.put_key("/local/domain/nogroup", '{"host": "127.0.0.5"}')
    with testing.serve(data.block(zones="domain.local"), tmp_path) as srv:
        assert lines(srv.query("domain.local.", "A")) == [
            "domain.local. 3600 IN A 127.0.0.1", "domain.local. 3600 IN A 127.0.0.2",
            "domain.local. 3600 IN A 127.0.0.5"]
        assert lines(srv.query("subdom.domain.local.", "A")) == [
            "subdom.domain.local. 3600 IN A 127.0.0.3", "subdom.domain.local. 3600 IN A 127.0.0.4"]


def test_srv_weight_tables(tmp_path, data):
    """README: weights are percentages per priority: 3x100 -> 33 each; 120/100/130 -> 34/28/37."""
    for n in ("a", "b", "c"):
        data.put(f"{n}.even.skydns.local", {"host": f"10.1.0.{ord(n)}", "port": 1})
    for n, w in (("a", 120), ("b", 100), ("c", 130)):
        data.put(f"{n}.uneven.skydns.local", {"host": f"10.2.0.{ord(n)}", "port": 1, "weight": w})
    data.put("d.uneven.skydns.local", {"host": "10.2.0.200", "port": 1, "priority": 20})
    with testing.serve(data.block(), tmp_path) as srv:
        assert [r.weight for r in srv.query("even.skydns.local.", "SRV").answer[0]] == [33, 33, 33]
        got = {r.target.labels[0].decode(): (r.priority, r.weight) for r in srv.query("uneven.skydns.local.", "SRV").answer[0]}
        assert got == {"a": (10, 34), "b": (10, 28), "c": (10, 37), "d": (20, 100)}
