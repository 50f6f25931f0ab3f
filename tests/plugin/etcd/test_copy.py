"""The watched copy against a real etcd: changes, outages, compaction, failover, reload sharing."""

import threading
import time

import dns.rcode
import pytest

from helpers import EtcdData, Logged, Proxy, blast_udp, eventually, metric
from skydns import testing
from skydns.cli.devetcd import LocalEtcd, free_port
from skydns.interfaces import IReadiness

# a real etcd, stopped and restarted, behind a proxy
pytestmark = pytest.mark.integration


def unready(srv) -> list[str]:
    """What the running plugins say is missing (IReadiness, as /ready reports it)."""
    return [why for why in (testing.call(p.ready) for p in srv.find(IReadiness)) if why]


def addrs(srv, name="svc.skydns.local.", timeout=3.0):
    r = srv.query(name, "A", timeout=timeout)
    return sorted(rr.address for rrset in r.answer for rr in rrset)


def test_put_change_delete_while_serving(tmp_path, data):
    """Puts, changes and deletes show in the next answers."""
    data.put("a.svc.skydns.local", {"host": "10.0.0.1"})
    with testing.serve(data.block(), tmp_path) as srv:
        assert addrs(srv) == ["10.0.0.1"]
        data.put("b.svc.skydns.local", {"host": "10.0.0.2"})
        assert eventually(lambda: addrs(srv) == ["10.0.0.1", "10.0.0.2"])
        data.put("a.svc.skydns.local", {"host": "10.0.0.9"})
        assert eventually(lambda: addrs(srv) == ["10.0.0.2", "10.0.0.9"])
        data.delete("a.svc.skydns.local")
        data.delete("b.svc.skydns.local")
        assert eventually(lambda: srv.query("svc.skydns.local.", "A").rcode() == dns.rcode.NXDOMAIN)


def test_etcd_down_keeps_serving_and_catches_up(tmp_path):
    """etcd stopped: the last copy answers, one warning; restarted: changes made since are seen."""
    server = LocalEtcd(str(tmp_path / "etcd"), free_port(), free_port()).start()
    try:
        data = EtcdData(server)
        data.put("a.svc.skydns.local", {"host": "10.0.0.1"})
        with Logged() as logged, testing.serve(data.block(), tmp_path) as srv:
            assert addrs(srv) == ["10.0.0.1"]
            data.client.close()
            server.stop()
            # Through an outage of several failed reconnections, answers come at once from the copy.
            assert eventually(lambda: addrs(srv) == ["10.0.0.1"] and
                              metric(srv, "skydns_etcd_watch_reconnects_total") >= 2, timeout=10)
            assert addrs(srv) == ["10.0.0.1"] and unready(srv)
            server.start()
            assert eventually(lambda: not unready(srv), timeout=15)
            outage_warnings = [w for w in logged.warnings() if "unreachable" in w]
            assert len(outage_warnings) == 1, outage_warnings
            data.client = server.client()
            data.put("b.svc.skydns.local", {"host": "10.0.0.2"})
            assert eventually(lambda: addrs(srv) == ["10.0.0.1", "10.0.0.2"], timeout=10)
            data.client.close()
    finally:
        server.stop()


def test_compacted_revision_reads_again(tmp_path, etcd, data):
    """Cut off while keys change and the history is compacted: the copy is read again, whole."""
    proxy = Proxy(etcd.port)
    try:
        data.put("a.svc.skydns.local", {"host": "10.0.0.1"})
        data.put("b.svc.skydns.local", {"host": "10.0.0.2"})
        with testing.serve(data.block(endpoint=proxy.url), tmp_path) as srv:
            assert addrs(srv) == ["10.0.0.1", "10.0.0.2"]
            proxy.block()
            assert eventually(lambda: unready(srv))
            data.delete("a.svc.skydns.local")
            data.put("c.svc.skydns.local", {"host": "10.0.0.3"})
            head = data.client.get_response(data.key("c.svc.skydns.local")).header.revision
            data.client.compact(head)
            assert addrs(srv) == ["10.0.0.1", "10.0.0.2"]  # still the last copy
            proxy.unblock()
            assert eventually(lambda: addrs(srv) == ["10.0.0.2", "10.0.0.3"], timeout=15)
            assert metric(srv, "skydns_etcd_revision") >= head
    finally:
        proxy.close()


def test_first_endpoint_dead(tmp_path, etcd, data):
    """With two endpoints and the first dead, the copy loads from the second."""
    data.put("a.svc.skydns.local", {"host": "10.0.0.1"})
    dead = f"http://127.0.0.1:{free_port()}"
    text = data.block(endpoint=f"{dead} {etcd.url}")
    with testing.serve(text, tmp_path) as srv:
        assert eventually(lambda: srv.query("svc.skydns.local.", "A").rcode() == dns.rcode.NOERROR, timeout=15)
        assert addrs(srv) == ["10.0.0.1"]
        data.put("b.svc.skydns.local", {"host": "10.0.0.2"})
        assert eventually(lambda: addrs(srv) == ["10.0.0.1", "10.0.0.2"])


def test_not_loaded_yet_is_servfail(tmp_path):
    """Before the first read completes (etcd unreachable from the start), a query waits a second for
    it, then gets SERVFAIL: before a client's own timeout."""
    dead = f"http://127.0.0.1:{free_port()}"
    text = f"skydns.local:0 {{\n etcd {{\n  endpoint {dead}\n }}\n}}\n"
    with testing.serve(text, tmp_path, wait=False) as srv:  # queries come while the copy is still being read
        start = time.monotonic()
        assert srv.query("a.skydns.local.", "A", timeout=5).rcode() == dns.rcode.SERVFAIL
        assert 0.9 < time.monotonic() - start < 2.5


def test_queries_before_the_first_read_wait_for_it(tmp_path, etcd, data):
    """A query that arrives while the copy is being read is answered from it once read, not SERVFAIL;
    with cache in front, nothing answered before the read is kept."""
    data.put("a.svc.skydns.local", {"host": "10.0.0.1"})
    proxy = Proxy(etcd.port)
    proxy.hold()  # etcd hangs: the first read neither completes nor fails
    try:
        text = data.block(endpoint=proxy.url).replace(" etcd {", " cache\n etcd {")
        with testing.serve(text, tmp_path, wait=False) as srv:
            # the read takes longer than a query waits: SERVFAIL, and the cache keeps none of it
            assert srv.query("svc.skydns.local.", "A", timeout=5).rcode() == dns.rcode.SERVFAIL
            assert metric(srv, "skydns_cache_entries") == 0 and metric(srv, "skydns_etcd_synced") == 0
            # a query waiting when the read completes gets the answer
            got = {}
            asking = threading.Thread(target=lambda: got.update(r=srv.query("svc.skydns.local.", "A", timeout=5)))
            asking.start()
            assert eventually(lambda: metric(srv, "skydns_etcd_waiting_queries") == 1)
            proxy.release()
            asking.join(10)
            assert got["r"].rcode() == dns.rcode.NOERROR and addrs(srv) == ["10.0.0.1"]
    finally:
        proxy.close()


def test_reload_keeps_the_copy(tmp_path, data):
    """A reload with the same etcd settings reuses the running copy (no second read)."""
    data.put("a.svc.skydns.local", {"host": "10.0.0.1"})

    def paths():
        return {dict(labels).get("path") for (name, *labels) in srv.metrics() if name == "skydns_etcd_revision"}

    with Logged() as logged, testing.serve(data.block(), tmp_path) as srv:
        srv.write(data.block(extra="  ttl 99\n"))
        assert srv.reload()
        assert srv.query("svc.skydns.local.", "A").answer[0].ttl == 99
        reads = [line for line in logged.lines("skydns.plugin.etcd") if f"etcd copy of {data.path} " in line]
        assert len(reads) == 1 and " loaded " in reads[0]  # read once, before the reload
        srv.write(data.block(extra="  path /elsewhere\n").replace(f"  path {data.path}\n", ""))
        assert srv.reload()
        assert eventually(lambda: paths() == {"/elsewhere"})  # the old copy is no longer served, and stopped
        assert eventually(lambda: f"etcd copy of {data.path} stopped" in logged.lines("skydns.plugin.etcd"))
        assert eventually(lambda: any("etcd copy of /elsewhere loaded" in line
                                      for line in logged.lines("skydns.plugin.etcd")))


def test_no_servfail_while_starting_under_load(tmp_path, data):
    """3,000 queries a second from the moment the listeners open, cache in front: not one SERVFAIL,
    none lost: queries that come before the first read wait for it."""
    for i in range(20):
        data.put(f"s{i}.svc.skydns.local", {"host": f"10.0.0.{i + 1}"})
    text = data.block().replace(" etcd {", " cache\n etcd {")
    srv = testing.start(text, tmp_path, wait=False)
    try:
        counts = blast_udp(srv.port, [f"s{i}.svc.skydns.local." for i in range(20)], rate=3000, seconds=1.0)
    finally:
        srv.stop()
    assert counts[dns.rcode.SERVFAIL] == 0 and counts["sent"] > 2500, counts
    assert counts[dns.rcode.NOERROR] >= counts["sent"] * 0.99, counts  # a datagram lost on a busy machine, at most
