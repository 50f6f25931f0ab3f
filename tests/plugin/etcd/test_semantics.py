"""SPEC section 3, rule by rule, against a real etcd."""

import dns.flags
import dns.rcode
import dns.rdatatype

from helpers import Logged, eventually
from skydns import testing


def lines(msg, section="answer"):
    return testing.rrsets(msg, section)


def test_case_insensitive_and_owner_as_asked(tmp_path, data):
    data.client.put(data.path + "/local/skydns/east/web01", '{"host": "10.0.0.1"}')
    with testing.serve(data.block(), tmp_path) as srv:
        r = srv.query("WEB01.East.SkyDNS.local.", "A")
        assert lines(r) == ["WEB01.East.SkyDNS.local. 3600 IN A 10.0.0.1"]


def test_whole_labels_only(tmp_path, data):
    """mx is not mx2, dom is not dom1: a name never picks up a sibling sharing a prefix."""
    data.put("a.mx2.skydns.local", {"host": "10.0.0.2"})
    data.put("a.dom1.skydns.local", {"host": "10.0.0.3"})
    with testing.serve(data.block(), tmp_path) as srv:
        assert srv.query("mx.skydns.local.", "A").rcode() == dns.rcode.NXDOMAIN
        assert srv.query("dom.skydns.local.", "A").rcode() == dns.rcode.NXDOMAIN
        assert lines(srv.query("mx2.skydns.local.", "A")) == ["mx2.skydns.local. 3600 IN A 10.0.0.2"]


def test_nxdomain_nodata_and_soa(tmp_path, data):
    """NXDOMAIN and NODATA carry the SOA (TTL min_ttl); the apex answers SOA even with no keys."""
    data.put("web.skydns.local", {"host": "10.0.0.1"})
    with testing.serve(data.block(extra="  min_ttl 60\n  hostmaster admin@example.org\n"), tmp_path) as srv:
        r = srv.query("nope.skydns.local.", "A")
        assert r.rcode() == dns.rcode.NXDOMAIN and r.flags & dns.flags.AA and not r.answer
        soa = r.authority[0]
        assert soa.ttl == 60 and soa.name.to_text() == "skydns.local."
        assert soa[0].mname.to_text() == "ns.dns.skydns.local." and soa[0].rname.to_text() == "admin.example.org."
        assert (soa[0].refresh, soa[0].retry, soa[0].expire, soa[0].minimum) == (28800, 7200, 604800, 60)
        for qtype in ("AAAA", "MX", "TXT", "NAPTR", "TYPE65280", "NS", "CNAME", "SOA"):
            r = srv.query("web.skydns.local.", qtype)
            assert r.rcode() == dns.rcode.NOERROR and not r.answer, qtype
            assert r.authority[0].rdtype == dns.rdatatype.SOA, qtype
        r = srv.query("skydns.local.", "SOA")
        assert r.answer[0].ttl == 3600 and r.answer[0][0].rname.to_text() == "admin.example.org."
    empty = data.block(zones="empty.example")
    with testing.serve(empty, tmp_path) as srv:
        r = srv.query("empty.example.", "SOA")
        assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].mname.to_text() == "ns.dns.empty.example."
        assert r.answer[0][0].rname.to_text() == "hostmaster.empty.example."
        r = srv.query("empty.example.", "A")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer


def test_soa_serial_follows_changes(tmp_path, data):
    data.put("a.skydns.local", {"host": "10.0.0.1"})
    with testing.serve(data.block(), tmp_path) as srv:
        first = srv.query("skydns.local.", "SOA").answer[0][0].serial
        data.put("b.skydns.local", {"host": "10.0.0.2"})
        assert eventually(lambda: srv.query("skydns.local.", "SOA").answer[0][0].serial != first)


def test_apex_addresses(tmp_path, data):
    """At the apex, dns/apex holds the zone's addresses; without it the zone aggregates."""
    data.put("web.skydns.local", {"host": "10.0.0.1"})
    with testing.serve(data.block(), tmp_path) as srv:
        assert lines(srv.query("skydns.local.", "A")) == ["skydns.local. 3600 IN A 10.0.0.1"]
        data.put("x.apex.dns.skydns.local", {"host": "10.9.9.9"})
        assert eventually(lambda: lines(srv.query("skydns.local.", "A")) == ["skydns.local. 3600 IN A 10.9.9.9"])


def test_duplicates_count_once(tmp_path, data):
    """Identical services under different keys count once, before SRV weights are computed."""
    data.put("a.svc.skydns.local", {"host": "10.0.0.1", "port": 80})
    data.put("b.svc.skydns.local", {"host": "10.0.0.1", "port": 80})
    data.put("c.svc.skydns.local", {"host": "service.example.com", "port": 80})
    data.put("d.svc.skydns.local", {"host": "service.example.com", "port": 80})
    with testing.serve(data.block(), tmp_path) as srv:
        assert lines(srv.query("svc.skydns.local.", "A")) == ["svc.skydns.local. 3600 IN A 10.0.0.1"]
        srvs = srv.query("svc.skydns.local.", "SRV").answer[0]
        assert sorted(r.weight for r in srvs) == [50, 50] and len(srvs) == 2


def test_mx_and_txt(tmp_path, data):
    """mail: true adds MX (priority as preference) with addresses in additional; text gives TXT, 255-byte strings."""
    data.put("mx1.mail.skydns.local", {"host": "10.0.0.25", "mail": True, "priority": 5})
    data.put("mx2.mail.skydns.local", {"host": "smtp.skydns.local", "mail": True, "priority": 20})
    data.put("smtp.skydns.local", {"host": "10.0.0.26"})
    data.put("web.mail.skydns.local", {"host": "10.0.0.80"})
    long_text = "x" * 300
    data.put("t.skydns.local", {"text": "hello world"})
    data.put("long.skydns.local", {"text": long_text})
    with testing.serve(data.block(), tmp_path) as srv:
        r = srv.query("mail.skydns.local.", "MX")
        assert lines(r) == ["mail.skydns.local. 3600 IN MX 20 smtp.skydns.local.",
                            "mail.skydns.local. 3600 IN MX 5 mx1.mail.skydns.local."]
        assert lines(r, "additional") == ["mx1.mail.skydns.local. 3600 IN A 10.0.0.25",
                                          "smtp.skydns.local. 3600 IN A 10.0.0.26"]
        assert lines(srv.query("t.skydns.local.", "TXT")) == ['t.skydns.local. 3600 IN TXT "hello world"']
        rr = srv.query("long.skydns.local.", "TXT").answer[0][0]
        assert [len(s) for s in rr.strings] == [255, 45]
        # A service with only text has no address.
        r = srv.query("t.skydns.local.", "A")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer


def test_txt_follows_cnames_and_cname_query_is_exact(tmp_path, data):
    data.put("alias.skydns.local", {"host": "t.skydns.local"})
    data.put("t.skydns.local", {"text": "found"})
    data.put("x.sub.skydns.local", {"host": "t.skydns.local"})
    with testing.serve(data.block(), tmp_path) as srv:
        assert [rr.to_text() for rr in srv.query("alias.skydns.local.", "TXT").answer] == [
            "alias.skydns.local. 3600 IN CNAME t.skydns.local.", 't.skydns.local. 3600 IN TXT "found"']
        assert lines(srv.query("alias.skydns.local.", "CNAME")) == ["alias.skydns.local. 3600 IN CNAME t.skydns.local."]
        r = srv.query("sub.skydns.local.", "CNAME")  # exists, but its key holds nothing itself
        assert r.rcode() == dns.rcode.NOERROR and not r.answer


def test_cname_loops_and_long_chains(tmp_path, data):
    """A chain stops at 8 steps; a target seen before ends it; x CNAME x is dropped."""
    data.put("self.skydns.local", {"host": "self.skydns.local"})
    data.put("a.skydns.local", {"host": "b.skydns.local"})
    data.put("b.skydns.local", {"host": "a.skydns.local"})
    for i in range(12):
        data.put(f"c{i}.skydns.local", {"host": f"c{i + 1}.skydns.local"})
    data.put("c12.skydns.local", {"host": "10.0.0.12"})
    for i in range(6):
        data.put(f"d{i}.skydns.local", {"host": f"d{i + 1}.skydns.local"})
    data.put("d6.skydns.local", {"host": "10.0.0.6"})
    with testing.serve(data.block(), tmp_path) as srv:
        for name in ("self", "a", "c0"):
            r = srv.query(f"{name}.skydns.local.", "A")
            assert r.rcode() == dns.rcode.NOERROR and not r.answer, name
        r = srv.query("d0.skydns.local.", "A")
        assert len(r.answer) == 7 and r.answer[-1][0].address == "10.0.0.6"


def test_ttls(tmp_path, data):
    """A service's ttl; the default otherwise; all records of an answer share the smallest; a lease caps it."""
    data.put("a.ttl.skydns.local", {"host": "10.0.0.1", "ttl": 60})
    data.put("b.ttl.skydns.local", {"host": "10.0.0.2", "ttl": 300})
    lease = data.client.lease(20)
    data.put("leased.skydns.local", {"host": "10.0.0.3", "ttl": 600}, lease=lease)
    with testing.serve(data.block(extra="  ttl 120\n"), tmp_path) as srv:
        assert {rr.ttl for rr in srv.query("ttl.skydns.local.", "A").answer} == {60}
        assert srv.query("b.ttl.skydns.local.", "A").answer[0].ttl == 300
        data.put("plain.skydns.local", {"host": "10.0.0.4"})
        assert eventually(lambda: srv.query("plain.skydns.local.", "A").answer)
        assert srv.query("plain.skydns.local.", "A").answer[0].ttl == 120
        assert eventually(lambda: srv.query("leased.skydns.local.", "A").answer[0].ttl <= 20)
        # The lease expiring removes the key (a delete event).
        lease.revoke()
        assert eventually(lambda: srv.query("leased.skydns.local.", "A").rcode() == dns.rcode.NXDOMAIN)


def test_any_is_minimal(tmp_path, data):
    """ANY gets one HINFO record (RFC 8482), NXDOMAIN for names that do not exist."""
    data.put("a.skydns.local", {"host": "10.0.0.1"})
    with testing.serve(data.block(), tmp_path) as srv:
        r = srv.query("a.skydns.local.", "ANY")
        assert lines(r) == ['a.skydns.local. 8482 IN HINFO "ANY obsoleted" "See RFC 8482"']
        assert srv.query("b.skydns.local.", "ANY").rcode() == dns.rcode.NXDOMAIN


def test_fallthrough(tmp_path, data):
    """With fallthrough, NXDOMAIN goes to the next plugin instead."""
    from helpers import fakeplugins
    text = (f"skydns.local:0 {{\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n"
            "  fallthrough\n }\n answer 10.7.7.7\n}\n")
    data.put("a.skydns.local", {"host": "10.0.0.1"})
    with testing.serve(text, tmp_path, fakeplugins.registry()) as srv:
        assert srv.query("a.skydns.local.", "A").answer[0][0].address == "10.0.0.1"
        assert srv.query("zzz.skydns.local.", "A").answer[0][0].address == "10.7.7.7"


def test_bad_values_are_skipped_with_one_warning(tmp_path, data):
    """Not JSON, not an object, wrong types, huge: skipped with a warning naming the key; others answer."""
    data.put("good.svc.skydns.local", {"host": "10.0.0.1"})
    data.put("notjson.svc.skydns.local", "{host: 10.0.0.2")
    data.put("list.svc.skydns.local", "[1, 2]")
    data.put("port.svc.skydns.local", {"host": "10.0.0.3", "port": "eighty"})
    data.put("mail.svc.skydns.local", {"host": "10.0.0.4", "mail": "yes"})
    data.put("huge.svc.skydns.local", '{"host": "10.0.0.5", "text": "' + "x" * 20000 + '"}')
    data.put_key("//local/skydns/svc/empty", '{"host": "10.0.0.6"}')
    data.client.put(data.path + "x/local/skydns/svc/other", '{"host": "10.0.0.7"}')
    with Logged() as logged:
        with testing.serve(data.block(), tmp_path) as srv:
            assert lines(srv.query("svc.skydns.local.", "A")) == ["svc.skydns.local. 3600 IN A 10.0.0.1"]
            data.put("notjson.svc.skydns.local", "still {not json")
            data.put("port.svc.skydns.local", {"host": "10.0.0.3", "port": 81})
            assert eventually(lambda: len(srv.query("svc.skydns.local.", "A").answer[0]) == 2)
    warnings = logged.warnings()
    for name, why in (("list", "JSON list where an object"),
                      ("port", "field 'port' must be an integer"), ("mail", "field 'mail' must be true or false"),
                      ("huge", "larger than")):
        key = data.key(f"{name}.svc.skydns.local")
        assert sum(1 for w in warnings if key in w and why in w) == 1, (name, warnings)
    # Two different bad values over time: one warning each.
    assert sum(1 for w in warnings if data.key("notjson.svc.skydns.local") in w and "not valid JSON" in w) == 2


def test_other_classes_are_refused(tmp_path, data):
    """Service records are IN data: CH, HS, NONE and class 0 queries for the zone get REFUSED (as NSD does)."""
    data.put("web.skydns.local", {"host": "10.0.0.1"})
    with testing.serve(data.block(), tmp_path) as srv:
        assert srv.query("web.skydns.local.", "A").rcode() == dns.rcode.NOERROR
        for rdclass in (3, 4, 254, 0):
            r = srv.query("web.skydns.local.", "A", rdclass=rdclass)
            assert r.rcode() == dns.rcode.REFUSED and not r.answer, rdclass


def test_names_longer_than_dns_allows_are_skipped(tmp_path, data):
    """A key 130 labels deep would make replies no client can read: it is skipped with a warning naming it,
    and the zone's answers (SRV at the apex, which would have named it) stay well formed."""
    deep = ".".join(["x"] * 130) + ".svc.skydns.local"
    data.put(deep, {"host": "10.0.0.9", "port": 80})
    data.put("ok.svc.skydns.local", {"host": "10.0.0.1", "port": 80})
    with Logged() as logged, testing.serve(data.block(), tmp_path) as srv:
        r = srv.query("svc.skydns.local.", "SRV", tcp=True)
        assert [rd.target.to_text() for rd in r.answer[0]] == ["ok.svc.skydns.local."]
    warned = [w for w in logged.warnings() if "octets long" in w]
    assert len(warned) == 1 and data.key(deep) in warned[0]


def test_smallest_ttl_across_an_answer_with_upstream_records(tmp_path, data, ups):
    """SkyDNS: a service CNAME (TTL 3600) to an outside name whose address has TTL 60 is answered with 60 on
    both; identical records appear once."""
    up = ups(address="192.0.2.7")  # answers with TTL 60
    data.put("alias.skydns.local", {"host": "www.example.org"})
    data.put("x1.dup.skydns.local", {"host": "10.0.0.1"})
    data.put("x2.dup.skydns.local", {"host": "10.0.0.1"})
    with testing.serve(data.block() + f".:0 {{\n forward . {up.addr}\n}}\n", tmp_path) as srv:
        port = list(srv.ports().values())[0]
        r = srv.query("alias.skydns.local.", "A", port=port)
        assert [(rr.rdtype, rr.ttl) for rr in r.answer] == [(dns.rdatatype.CNAME, 60), (dns.rdatatype.A, 60)]
        r = srv.query("dup.skydns.local.", "A", port=port)
        assert [rr.to_text() for rr in r.answer] == ["dup.skydns.local. 3600 IN A 10.0.0.1"]


def test_dangling_cname_inside_the_zone_is_left_out(tmp_path, data):
    """SkyDNS and CoreDNS: a CNAME whose target is in the zone and has nothing of the asked type is not
    answered: NOERROR, no answer, the SOA in authority."""
    data.put("empty.skydns.local", {"host": "nothing.skydns.local"})
    data.put("totxt.skydns.local", {"host": "txtonly.skydns.local"})
    data.put("txtonly.skydns.local", {"text": "hi"})
    with testing.serve(data.block(), tmp_path) as srv:
        for name in ("empty.skydns.local.", "totxt.skydns.local."):
            r = srv.query(name, "A")
            assert r.rcode() == dns.rcode.NOERROR and not r.answer, r
            assert r.authority[0].rdtype == dns.rdatatype.SOA


def test_lease_ttl_bounds(tmp_path, data):
    """CoreDNS's min-lease-ttl and max-lease-ttl keep a leased key's TTL within them (default: the countdown)."""
    lease = data.client.lease(20)
    data.put("leased.skydns.local", {"host": "10.0.0.3", "ttl": 600}, lease=lease)
    long_lease = data.client.lease(5000)
    data.put("long.skydns.local", {"host": "10.0.0.4", "ttl": 6000}, lease=long_lease)
    with testing.serve(data.block(extra="  min-lease-ttl 30s\n  max-lease-ttl 1h\n"), tmp_path) as srv:
        assert eventually(lambda: srv.query("leased.skydns.local.", "A").answer[0].ttl == 30)  # lease learnt
        assert eventually(lambda: srv.query("long.skydns.local.", "A").answer[0].ttl == 3600)
    lease.revoke()
    long_lease.revoke()
