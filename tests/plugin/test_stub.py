"""stub: stub zones from etcd, forwarded before local records, marked so two servers cannot loop."""
import time

import dns.rcode
import pytest

from helpers import EtcdData, Logged, Upstream, closed_port, eventually, metric
from skydns import testing
from skydns.interfaces import IRecordSource


def block(data, zones="skydns.local", port=0):
    return (f"{zones}:{port} skydns.com:{port} loop.test:{port} {{\n stub\n etcd {zones} {{\n"
            f"  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")


def test_stub_zone_forwarded_with_mark(tmp_path, data):
    """Queries in a stub zone go to its servers (next on failure) with the EDNS0 mark, before local records."""
    up = Upstream(address="10.53.0.1")
    try:
        data.put("ns1.skydns.com.stub.dns.skydns.local", {"host": "127.0.0.1", "port": closed_port()})
        data.put("ns2.skydns.com.stub.dns.skydns.local", {"host": "127.0.0.1", "port": up.port})
        data.put("www.skydns.local", {"host": "10.0.0.1"})
        with testing.serve(block(data), tmp_path) as srv:
            r = srv.query("www.skydns.com.", "A")
            assert r.answer[0][0].address == "10.53.0.1"
            q = up.seen[-1][2]
            assert any(o.otype == 65011 for o in q.options)
            assert r.edns == -1  # the client sent no OPT, it gets none back
            assert srv.query("www.skydns.local.", "A").answer[0][0].address == "10.0.0.1"
            # Stub zones follow etcd.
            data.delete("ns2.skydns.com.stub.dns.skydns.local")
            data.delete("ns1.skydns.com.stub.dns.skydns.local")
            assert eventually(lambda: srv.query("www.skydns.com.", "A").rcode() == dns.rcode.REFUSED
                              or not srv.query("www.skydns.com.", "A").answer)
    finally:
        up.close()


def test_two_servers_pointing_at_each_other_do_not_loop(tmp_path, etcd):
    """A and B both stub loop.test to each other: the marked query is dropped by B, logged, and A gives SERVFAIL."""
    a, b = EtcdData(etcd), EtcdData(etcd)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with Logged() as logged:
        srv_a = testing.start(block(a), tmp_path / "a")
        srv_b = testing.start(block(b), tmp_path / "b")
        try:
            pa, pb = srv_a.port, srv_b.port  # bound by the servers themselves: no port can be taken meanwhile
            a.put("ns.loop.test.stub.dns.skydns.local", {"host": "127.0.0.1", "port": pb})
            b.put("ns.loop.test.stub.dns.skydns.local", {"host": "127.0.0.1", "port": pa})
            stub = "ns.loop.test.stub.dns.skydns.local."
            sources = [s for srv in (srv_a, srv_b) for s in srv.find(IRecordSource)]
            assert eventually(lambda: all(testing.call(s.services, stub) for s in sources))
            start = time.monotonic()
            r = srv_a.query("x.loop.test.", "A", port=pa, timeout=6)
            assert r.rcode() == dns.rcode.SERVFAIL
            assert time.monotonic() - start < 4
            assert metric(srv_b, "skydns_stub_dropped_total") == 1 and metric(srv_a, "skydns_stub_dropped_total") == 0
        finally:
            srv_a.stop()
            srv_b.stop()
    drops = [line for line in logged.warnings("skydns.plugin.stub") if "would loop" in line]
    assert len(drops) == 1 and "x.loop.test." in drops[0]


def test_stub_needs_a_record_source(tmp_path):
    """Without a record source (etcd) in its block, stub refuses the configuration at its line."""
    from skydns import config
    from skydns.config.errors import CorefileError
    (tmp_path / "Corefile").write_text(". {\n stub\n whoami\n}\n")
    with pytest.raises(CorefileError, match="Corefile:2 - plugin/stub: needs a record source"):
        config.load(str(tmp_path / "Corefile")).build()


def test_a_frozen_nameserver_is_skipped_after_two_failures(tmp_path, data):
    """The first nameserver of a stub zone stops answering: after two queries that timed out on it, it is
    marked down and the next queries go straight to the second one (no 2 s wait each)."""
    import concurrent.futures

    frozen = Upstream("slow", delay=None)
    alive = Upstream(address="10.53.0.2")
    try:
        data.put("a.skydns.com.stub.dns.skydns.local", {"host": "127.0.0.1", "port": frozen.port})
        data.put("b.skydns.com.stub.dns.skydns.local", {"host": "127.0.0.1", "port": alive.port})
        with testing.serve(block(data), tmp_path) as srv:
            with concurrent.futures.ThreadPoolExecutor(2) as pool:  # two at once: one 2 s wait for both
                slow = [pool.submit(srv.query, f"q{i}.skydns.com.", "A", timeout=5) for i in range(2)]
                assert [f.result().answer[0][0].address for f in slow] == ["10.53.0.2"] * 2
            assert eventually(lambda: metric(srv, "skydns_stub_nameserver_healthy", to=f"127.0.0.1:{frozen.port}") == 0)
            start = time.monotonic()
            for i in range(5):
                assert srv.query(f"fast{i}.skydns.com.", "A").answer[0][0].address == "10.53.0.2"
            assert time.monotonic() - start < 1.0
    finally:
        frozen.close()
        alive.close()
