"""cache: wire-level hits identical to misses, TTL countdown, keys, options, etcd invalidation."""
import socket

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from twisted.internet import task

from helpers import Upstream, counting_serve, eventually, fakeplugins, metric
from skydns import testing
from skydns.interfaces import IRawAnswerer


def raw(port, q: dns.message.Message, timeout=3.0) -> bytes:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(q.to_wire(), ("127.0.0.1", port))
    try:
        return s.recv(65535)
    finally:
        s.close()


@pytest.fixture
def up():
    u = Upstream(address="10.1.1.1")
    yield u
    u.close()


def etcd_block(data, cache="cache", zones="skydns.local in-addr.arpa"):
    return (f"{zones.replace(' ', ':0 ')}:0 {{\n {cache}\n etcd {{\n  path {data.path}\n"
            f"  endpoint {data.server.url}\n }}\n}}\n")


CASES = [("web.skydns.local.", "A"), ("web6.skydns.local.", "AAAA"), ("svc.skydns.local.", "SRV"),
         ("mail.skydns.local.", "MX"), ("t.skydns.local.", "TXT"), ("skydns.local.", "NS"),
         ("skydns.local.", "SOA"), ("125.1.0.10.in-addr.arpa.", "PTR"), ("alias.skydns.local.", "CNAME"),
         ("alias.skydns.local.", "A"), ("nope.skydns.local.", "A"), ("web.skydns.local.", "MX"),
         ("web.skydns.local.", "ANY"), ("*.svc.skydns.local.", "SRV")]


def fill(data):
    data.put("web.skydns.local", {"host": "10.0.0.1"})
    data.put("web6.skydns.local", {"host": "2001:db8::1"})
    data.put("a.svc.skydns.local", {"host": "10.0.0.2", "port": 80})
    data.put("b.svc.skydns.local", {"host": "web.skydns.local", "port": 443})
    data.put("mx.mail.skydns.local", {"host": "10.0.0.25", "mail": True})
    data.put("t.skydns.local", {"text": "hello"})
    data.put("ns1.ns.dns.skydns.local", {"host": "10.0.0.53"})
    data.put("alias.skydns.local", {"host": "web.skydns.local"})
    data.put_key("/arpa/in-addr/10/0/1/125", '{"host": "web.skydns.local"}')


def test_hits_are_byte_identical_to_misses_and_to_no_cache(tmp_path, data):
    """For every record type: a hit is the miss byte for byte; a server without cache gives the same reply.

    dnspython shuffles multi-record RRsets each time it renders (the rotation), so the
    reply of the server without cache is compared as a message, and by length.
    """
    fill(data)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with testing.serve(etcd_block(data), tmp_path / "a") as cached, \
            testing.serve(etcd_block(data, cache=""), tmp_path / "b") as plain:
        for name, qtype in CASES:
            for kw in (dict(), dict(use_edns=0), dict(use_edns=0, want_dnssec=True)):
                q = dns.message.make_query(name, qtype, **kw)
                first, second, other = raw(cached.port, q), raw(cached.port, q), raw(plain.port, q)
                assert first == second, (name, qtype, kw)
                assert len(first) == len(other), (name, qtype, kw)
                assert dns.message.from_wire(first) == dns.message.from_wire(other), (name, qtype, kw)
        assert metric(cached, "skydns_cache_hits_total") >= len(CASES) * 3


def cache_of(srv):
    """The running cache, found as plugins find it: by what it provides (the raw path)."""
    (cache,) = srv.find(IRawAnswerer)
    return cache


def test_ttl_counts_down_and_case_is_the_clients(tmp_path, up):
    """Hits count the TTLs down by the seconds they were kept (on the test's clock), and echo the client's
    spelling."""
    with testing.serve(f".:0 {{\n cache\n forward . {up.addr}\n}}\n", tmp_path, clock=task.Clock()) as srv:
        r1 = srv.query("www.example.org.", "A")
        srv.advance(2.5)
        r2 = srv.query("WwW.ExAmPlE.oRg.", "A")
        assert len(up.seen) == 1
        assert r1.answer[0].ttl == 60 and r2.answer[0].ttl == 58
        assert r2.question[0].name.to_text() == "WwW.ExAmPlE.oRg."
        assert r2.answer[0].name.to_text() == "WwW.ExAmPlE.oRg."


def test_keys_do_cd_and_flags(tmp_path, up):
    """DO and CD are part of the key; the client's RD is patched in."""
    with testing.serve(f".:0 {{\n cache\n forward . {up.addr}\n}}\n", tmp_path) as srv:
        srv.query("a.example.", "A", use_edns=0)
        srv.query("a.example.", "A", use_edns=0, want_dnssec=True)
        q = dns.message.make_query("a.example.", "A", use_edns=0)
        q.flags |= dns.flags.CD
        r = srv.send(q)
        assert len(up.seen) == 3 and r.flags & dns.flags.CD
        q = dns.message.make_query("a.example.", "A", use_edns=0)
        q.flags &= ~dns.flags.RD
        r = srv.send(q)
        assert len(up.seen) == 3 and not r.flags & dns.flags.RD


def test_truncation_not_cached_and_payload_respected(tmp_path):
    """A big reply is stored whole; a UDP client with a small buffer gets it truncated with TC."""
    reg = fakeplugins.registry()
    with testing.serve(".:0 {\n cache\n big 30\n}\n", tmp_path, reg) as srv:
        assert len(srv.query("big.example.", "TXT", tcp=True).answer[0]) == 30
        r = srv.query("big.example.", "TXT", use_edns=0, payload=1232)
        assert r.flags & dns.flags.TC and len(r.to_wire()) <= 1232
        r = srv.query("big.example.", "TXT", tcp=True)
        assert len(r.answer[0]) == 30 and not r.flags & dns.flags.TC


def test_negative_ttl_from_soa_and_servfail_briefly(tmp_path, data):
    data.put("web.skydns.local", {"host": "10.0.0.1"})
    text = etcd_block(data, cache="cache {\n  servfail 1s\n }")
    with testing.serve(text, tmp_path, clock=task.Clock()) as srv:
        assert srv.query("nope.skydns.local.", "A").authority[0].ttl == 30  # min(SOA TTL, SOA minimum) = 30
        srv.advance(29)
        assert srv.query("nope.skydns.local.", "A").authority[0].ttl == 1  # a hit, counted down
        srv.advance(1)
        assert srv.query("nope.skydns.local.", "A").authority[0].ttl == 30  # expired: asked again
        assert metric(srv, "skydns_dns_cachemiss_count_total") == 2
    from helpers import closed_port
    text = f".:0 {{\n cache {{\n  servfail 1s\n }}\n forward . 127.0.0.1:{closed_port()}\n}}\n"
    with testing.serve(text, tmp_path, clock=task.Clock()) as srv:
        for _ in range(3):
            assert srv.query("x.", "A").rcode() == dns.rcode.SERVFAIL
        assert metric(srv, "skydns_dns_cachemiss_count_total") == 1
        srv.advance(1)
        srv.query("x.", "A")
        assert metric(srv, "skydns_dns_cachemiss_count_total") == 2


def test_capacity_and_disable(tmp_path, up):
    text = f".:0 {{\n cache {{\n  success 2\n  disable denial\n }}\n forward . {up.addr}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        for n in ("a", "b", "c"):
            srv.query(f"{n}.example.", "A")
        assert metric(srv, "skydns_cache_entries", type="success") == 2
        assert metric(srv, "skydns_cache_not_admitted_total") == 1  # full: c, asked once, was not kept
        srv.query("c.example.", "A")
        assert len(up.seen) == 4  # its second miss: kept now, in place of the oldest
        srv.query("c.example.", "A")
        assert len(up.seen) == 4  # a hit
        srv.query("a.example.", "A")
        assert len(up.seen) == 5  # a went first
        srv.query("nodata.example.", "MX")  # the upstream answers MX with NODATA (no SOA): not cached
        assert metric(srv, "skydns_cache_entries", type="denial") == 0


def test_prefetch(tmp_path, up):
    """A popular item close to expiry is fetched again in the background."""
    text = f".:0 {{\n cache 2 {{\n  prefetch 2 1m 60%\n }}\n forward . {up.addr}\n}}\n"
    with testing.serve(text, tmp_path, clock=task.Clock()) as srv:
        srv.query("p.example.", "A")
        srv.advance(1)
        srv.query("p.example.", "A")
        srv.query("p.example.", "A")
        assert eventually(lambda: len(up.seen) == 2)


def test_serve_stale(tmp_path):
    """After expiry, with the upstream gone, the stale reply is served (TTL 0)."""
    u = Upstream(address="10.2.2.2")
    text = f".:0 {{\n cache 1 {{\n  serve_stale 1h verify\n }}\n forward . {u.addr} {{\n  timeout 200ms\n }}\n}}\n"
    with testing.serve(text, tmp_path, clock=task.Clock()) as srv:
        assert srv.query("s.example.", "A").answer[0][0].address == "10.2.2.2"
        u.close()
        srv.advance(1)
        r = srv.query("s.example.", "A", timeout=5)
        assert r.answer[0][0].address == "10.2.2.2" and r.answer[0].ttl == 0


def test_etcd_changes_are_never_stale(tmp_path, data):
    """Put, query, change, query again at once: the new answer, for the name, its ancestors, wildcards, CNAMEs."""
    data.put("a.svc.skydns.local", {"host": "10.0.0.1"})
    data.put("alias.skydns.local", {"host": "a.svc.skydns.local"})
    with testing.serve(etcd_block(data, cache="cache 3600"), tmp_path) as srv:
        def addrs(name):
            return sorted(rr.address for rrset in srv.query(name, "A").answer for rr in rrset
                          if rrset.rdtype == dns.rdatatype.A)
        for name in ("a.svc.skydns.local.", "svc.skydns.local.", "*.svc.skydns.local.", "alias.skydns.local."):
            assert addrs(name) == ["10.0.0.1"], name
            assert addrs(name) == ["10.0.0.1"], name  # now cached
        hits = metric(srv, "skydns_cache_hits_total")
        rev = metric(srv, "skydns_etcd_revision")
        data.put("a.svc.skydns.local", {"host": "10.0.0.2"})
        assert eventually(lambda: metric(srv, "skydns_etcd_revision") > rev)
        for name in ("a.svc.skydns.local.", "svc.skydns.local.", "*.svc.skydns.local.", "alias.skydns.local."):
            assert addrs(name) == ["10.0.0.2"], name
        assert metric(srv, "skydns_cache_hits_total") == hits
        # A new name below a cached NXDOMAIN's name shows at once too.
        assert srv.query("new.skydns.local.", "A").rcode() == dns.rcode.NXDOMAIN
        rev = metric(srv, "skydns_etcd_revision")
        data.put("x.new.skydns.local", {"host": "10.0.0.3"})
        assert eventually(lambda: metric(srv, "skydns_etcd_revision") > rev)
        assert addrs("new.skydns.local.") == ["10.0.0.3"]


def test_bad_cache_config(tmp_path):
    from skydns import config
    from skydns.config.errors import CorefileError
    cases = {
        "cache {\n  success\n }": "wrong argument count",
        "cache {\n  success 0\n }": "capacity must be between",
        "cache {\n  success 10 5 60\n }": "minimum TTL 60 is above the TTL 5",
        "cache {\n  prefetch 2 1m 200%\n }": "prefetch percentage must be between 1 and 100",
        "cache {\n  serve_stale 1h later\n }": "unknown refresh mode 'later'",
        "cache {\n  servfail 10m\n }": "servfail cannot be more than 5m",
        "cache {\n  disable everything\n }": "disable needs success or denial",
        "cache {\n  sucess 10\n }": "unknown property 'sucess'",
    }
    for body, message in cases.items():
        (tmp_path / "Corefile").write_text(". {\n " + body + "\n whoami\n}\n")
        with pytest.raises(CorefileError) as e:
            config.load(str(tmp_path / "Corefile"))
        assert message in str(e.value) and "plugin/cache" in str(e.value), (body, str(e.value))


def test_raw_path_when_the_cache_heads_the_chain(tmp_path, up):
    """A repeated query is answered before parsing when the cache heads the chain."""
    with testing.serve(f".:0 {{\n cache\n forward . {up.addr}\n}}\n", tmp_path) as srv:
        q = dns.message.make_query("raw.example.", "A")
        first = raw(srv.port, q)
        calls = counting_serve(cache_of(srv))
        q.id = (q.id + 1) % 65536
        second = raw(srv.port, q)
        assert metric(srv, "skydns_cache_raw_entries") == 1 and metric(srv, "skydns_cache_hits_total") == 1
        assert calls == []
        assert second[:2] == q.to_wire()[:2] and second[2:] == first[2:]


def test_raw_path_behind_errors_with_log_and_prometheus(tmp_path, up):
    """errors in front of the cache, log and prometheus watching: repeated queries still take the
    raw path, and every one of them is logged and counted with its own ID, port and rcode."""
    from helpers import Logged, scrape, value
    from skydns.testing import free_port
    mport = free_port()
    text = f".:0 {{\n prometheus 127.0.0.1:{mport}\n errors\n log\n cache\n forward . {up.addr}\n}}\n"
    with Logged() as logged, testing.serve(text, tmp_path) as srv:
        srv.query("logged.example.", "A")
        calls = counting_serve(cache_of(srv))
        ids = []
        for _ in range(3):
            q = dns.message.make_query("logged.example.", "A")
            ids.append(q.id)
            assert srv.send(q).answer[0][0].address == "10.1.1.1"
        assert calls == [] and metric(srv, "skydns_cache_hits_total") == 3  # answered on the raw path
        s = scrape(mport)
    lines = [l for event in logged.lines("skydns.plugin.log") for l in event.splitlines() if "logged.example." in l]
    assert len(lines) == 4
    assert [int(l.split(" ")[2]) for l in lines[1:]] == ids
    assert all(" NOERROR qr,aa,rd,ra " in l or " NOERROR qr,rd,ra " in l for l in lines)
    assert value(s, "skydns_dns_request_count_total", server=".:0", zone=".", proto="udp", family="1", type="A") == 4
    assert value(s, "skydns_dns_response_size_bytes_count", server=".:0", zone=".", proto="udp") == 4


def test_raw_path_behind_any_and_chaos_but_not_acl(tmp_path, up):
    """any and chaos decide on the query bytes alone: hits skip them. acl looks at the client:
    with it in front every query goes through the chain, so a blocked client stays blocked."""
    with testing.serve(f".:0 {{\n any\n chaos\n cache\n forward . {up.addr}\n}}\n", tmp_path) as srv:
        srv.query("hit.example.", "A")
        calls = counting_serve(cache_of(srv))
        assert srv.query("hit.example.", "A").answer and calls == [] and metric(srv, "skydns_cache_hits_total") == 1
        r = srv.query("hit.example.", "ANY")
        assert r.answer[0].rdtype == dns.rdatatype.HINFO and calls == []  # any answered it
    text = f".:0 {{\n acl {{\n  block net 127.0.0.2\n }}\n cache\n forward . {up.addr}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        srv.query("hit.example.", "A")
        calls = counting_serve(cache_of(srv))
        assert srv.query("hit.example.", "A").answer and calls == ["hit.example."]
        assert srv.query("hit.example.", "A", source="127.0.0.2").rcode() == dns.rcode.REFUSED


def padded(name: str, size: int) -> dns.message.Message:
    """A query with EDNS padding of ``size`` bytes (a client's own bytes: never part of a cache key)."""
    import os as _os

    import dns.edns
    return dns.message.make_query(name, "A", use_edns=0, payload=65535,
                                  options=[dns.edns.GenericOption(dns.edns.OptionType.PADDING, _os.urandom(size))])


def test_padded_queries_cost_no_memory(tmp_path, up):
    """Padded queries (random padding, a new letter case each time) are answered from one entry and put
    nothing on the raw path: the cache's memory does not grow with the queries; other spellings of a plain
    query are answered from the entry without a raw key of their own."""
    with testing.serve(f".:0 {{\n cache\n forward . {up.addr}\n}}\n", tmp_path) as srv:
        srv.send(padded("www.example.org.", 4000), tcp=True)
        before = metric(srv, "skydns_cache_memory_bytes")
        for i in range(200):
            name = "".join(c.upper() if (i >> n) & 1 else c for n, c in enumerate("www.example.org."))
            r = srv.send(padded(name, 4000), tcp=True)
            assert r.answer[0][0].address == "10.1.1.1"
        assert len(up.seen) == 1 and metric(srv, "skydns_cache_entries") == 1
        assert metric(srv, "skydns_cache_memory_bytes") == before and metric(srv, "skydns_cache_raw_entries") == 0
        for i in range(20):
            name = "".join(c.upper() if (i >> n) & 1 else c for n, c in enumerate("www.example.org."))
            srv.query(name, "A")
        # the first plain spelling only
        assert metric(srv, "skydns_cache_entries") == 2 and metric(srv, "skydns_cache_raw_entries") == 1


def test_max_memory_bounds_the_cache(tmp_path, up):
    """Replies are kept within max_memory. Once it is reached, a name asked once is not kept (a flood of
    new names leaves the cache as it was); one that misses a second time is, and the oldest go (counted)."""
    text = f".:0 {{\n cache {{\n  max_memory 64K\n }}\n forward . {up.addr}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        for i in range(400):
            srv.query(f"n{i}.example.org.", "A")
        assert metric(srv, "skydns_cache_memory_bytes") <= 64 << 10
        assert 100 < metric(srv, "skydns_cache_entries") < 400
        assert metric(srv, "skydns_cache_not_admitted_total") > 0 and metric(srv, "skydns_cache_evictions_total") == 0
        asked = len(up.seen)
        srv.query("n1.example.org.", "A")
        assert len(up.seen) == asked  # kept: it came before the cache was full
        srv.query("n399.example.org.", "A")
        assert len(up.seen) == asked + 1  # not kept the first time; its second miss is
        srv.query("n399.example.org.", "A")
        assert len(up.seen) == asked + 1
        assert metric(srv, "skydns_cache_evictions_total") > 0
        srv.query("n0.example.org.", "A")
        assert len(up.seen) == asked + 2  # n0, the oldest, went to make room


def test_max_memory_errors(tmp_path):
    from skydns import config
    from skydns.config.errors import CorefileError
    for value, words in (("lots", "is not a size"), ("1K", "max_memory must be between")):
        (tmp_path / "Corefile").write_text(f". {{\n cache {{\n  max_memory {value}\n }}\n whoami\n}}\n")
        with pytest.raises(CorefileError, match=f"Corefile:3 - plugin/cache: .*{words}"):
            config.load(str(tmp_path / "Corefile"))


def test_ttls_never_above_the_cache_maximum(tmp_path, data, up):
    """cache 30: no answer (the miss that fills the cache, or a hit) carries a TTL above 30, as in CoreDNS;
    with keepttl the records' own TTLs are kept."""
    data.put("web.skydns.local", {"host": "10.0.0.1"})  # TTL 3600 (the etcd default)
    text = (f"skydns.local:0 {{\n cache 30\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n"
            f".:0 {{\n cache 30\n forward . {up.addr}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        ports = list(srv.ports().values())
        for port, name in ((ports[0], "web.skydns.local."), (ports[-1], "www.example.org.")):
            miss = srv.query(name, "A", port=port)
            hit = srv.query(name, "A", port=port)
            assert 0 < miss.answer[0].ttl <= 30 and 0 < hit.answer[0].ttl <= 30, (name, miss, hit)
        assert srv.query("www.example.org.", "A", port=ports[-1]).answer[0].ttl <= 30
    with testing.serve(f".:0 {{\n cache 30 {{\n  keepttl\n }}\n forward . {up.addr}\n}}\n", tmp_path) as srv:
        assert srv.query("www.example.org.", "A").answer[0].ttl == 60
        assert srv.query("www.example.org.", "A").answer[0].ttl == 60


def test_serve_stale_response_ttl_and_failure_recheck(tmp_path):
    """serve_stale 1h immediate 30s 10s: stale replies carry TTL 30 (RFC 8767); after a failed refresh the
    upstream is not asked again for 10 s."""
    u = Upstream(address="10.2.2.2")
    text = (f".:0 {{\n cache 1 {{\n  serve_stale 1h immediate 30s 10s\n }}\n"
            f" forward . {u.addr} {{\n  timeout 200ms\n  max_connect_attempts 1\n }}\n}}\n")
    with testing.serve(text, tmp_path, clock=task.Clock()) as srv:
        assert srv.query("s.example.", "A").answer[0].ttl == 1
        u.mode, u.delay = "slow", None  # the upstream stops answering: every refresh fails
        srv.advance(2)
        r = srv.query("s.example.", "A")
        assert r.answer[0][0].address == "10.2.2.2" and r.answer[0].ttl == 30
        assert eventually(lambda: len(u.seen) == 2 and metric(srv, "skydns_cache_refresh_failures_total") == 1)
        for _ in range(3):
            assert srv.query("s.example.", "A").answer[0].ttl == 30
        # within the failure recheck: no refresh is started (the refresh begins as the stale reply goes out)
        assert metric(srv, "skydns_cache_prefetch_total") == 1 and metric(srv, "skydns_cache_served_stale_total") == 4
        srv.advance(11)
        srv.query("s.example.", "A")
        assert metric(srv, "skydns_cache_prefetch_total") == 2
        assert eventually(lambda: len(u.seen) == 3)
    u.close()


def test_serve_stale_verify_timeout(tmp_path):
    """serve_stale 1h verify 100ms 30s: a slow upstream gets 100 ms, then the stale reply goes out; the
    verification goes on and refreshes the entry."""
    import concurrent.futures

    u = Upstream(address="10.3.3.3")
    text = f".:0 {{\n cache 1 {{\n  serve_stale 1h verify 100ms 30s\n }}\n forward . {u.addr}\n}}\n"
    with testing.serve(text, tmp_path, clock=task.Clock()) as srv, concurrent.futures.ThreadPoolExecutor(1) as ex:
        assert srv.query("v.example.", "A", timeout=5).answer[0].ttl == 1
        u.mode, u.delay = "slow", 1.0
        srv.advance(2)  # expired
        pending = ex.submit(srv.query, "v.example.", "A", timeout=5)
        assert eventually(lambda: len(u.seen) == 2)  # the verification is out, the upstream takes its time
        assert not pending.done()
        srv.advance(0.1)  # VERIFY_TIMEOUT: the stale reply goes out
        assert pending.result(timeout=0.8).answer[0].ttl == 30
        assert eventually(lambda: srv.query("v.example.", "A").answer[0].ttl == 1, timeout=5)  # refreshed
    u.close()


def test_serve_stale_policy_prefer_positive(tmp_path):
    """With prefer_positive, a positive answer outlives a later NXDOMAIN while serve_stale allows it."""
    for policy, expected in (("  serve_stale_policy prefer_positive\n", "10.4.4.4"), ("", "NXDOMAIN")):
        u = Upstream(address="10.4.4.4")
        text = (f".:0 {{\n cache 1 {{\n  serve_stale 1h verify\n{policy} }}\n forward . {u.addr}\n}}\n")
        with testing.serve(text, tmp_path, clock=task.Clock()) as srv:
            assert srv.query("p.example.", "A").answer[0][0].address == "10.4.4.4"
            u.mode, u.rcode = "rcode", dns.rcode.NXDOMAIN
            srv.advance(2)
            r = srv.query("p.example.", "A")
            got = r.answer[0][0].address if r.answer else dns.rcode.to_text(r.rcode())
            assert got == expected, policy
        u.close()


def test_answers_for_one_client_subnet_are_not_given_to_another():
    """EDNS Client Subnet: an answer made for 192.0.2.0/24 is kept for that subnet; a query from another subnet
    (or without the option) is not answered with it (RFC 7871 7.3). On the kit's Harness."""
    import dns.edns

    def by_subnet(h, request):
        ecs = [o for o in request.message.options if isinstance(o, dns.edns.ECSOption)]
        third = int(ecs[0].address.split(".")[2]) % 256 if ecs else 0  # the subnet's third octet, as the answer's
        msg = request.reply(authoritative=True)
        msg.answer.append(dns.rrset.from_text(request.message.question[0].name, 300, "IN", "A", f"10.0.0.{third}"))
        return msg

    reg = testing.registry(fakeplugins.Setup("bysubnet", by_subnet), *fakeplugins.SETUPS.values())
    h = testing.Harness("example.org {\n cache\n bysubnet\n}\n", reg)

    def ask(subnet):
        options = [dns.edns.ECSOption(subnet, 24)] if subnet else []
        return h.ask("www.example.org.", "A", use_edns=0, options=options).answer[0][0].address

    assert [ask("192.0.2.0"), ask("198.51.100.0"), ask(None), ask("192.0.2.0")] == \
        ["10.0.0.2", "10.0.0.100", "10.0.0.0", "10.0.0.2"]
    assert metric_of(h, "skydns_cache_hits_total") == 1  # the last one, the first subnet's again


def metric_of(h, name):
    from skydns.interfaces import IMetrics

    return sum(s.value for p in h.find(IMetrics) for f in p.collect("skydns_") for s in f.samples if s.name == name)
