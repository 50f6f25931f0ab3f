"""A three-member etcd cluster: a member that hangs, a network path that drops everything, an outage.

The copy notices what no error reports (a frozen member, a silent path), says so in the log, on
/ready and in a metric, and reads from another member within its ``stale_after``.
"""
import os
import signal
import time
import urllib.error
import urllib.request

import pytest

from helpers import EtcdData, Logged, Proxy, eventually, free_port, metric
from skydns import testing
from skydns.cli.devetcd import LocalCluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = LocalCluster(str(tmp_path_factory.mktemp("cluster"))).start()
    yield c
    c.stop()


class Writer(EtcdData):
    """Puts through one chosen member, trying again while the cluster elects a new leader."""

    def put(self, name, value, lease=None):
        def attempt() -> bool:
            try:
                super(Writer, self).put(name, value, lease)
                return True
            except Exception:
                self.client.close()
                self.client = self.server.client()  # pyetcd keeps a node that timed out "failed" for minutes
                return False

        assert eventually(attempt, timeout=20, interval=0.2), f"{name} not written in 20s"


def addrs(srv, name="svc.skydns.local."):
    r = srv.query(name, "A", timeout=2)
    return sorted(rr.address for rrset in r.answer for rr in rrset)


def corefile(path, endpoints, ready_port):
    return (f"skydns.local:0 {{\n ready 127.0.0.1:{ready_port}\n etcd {{\n  path {path}\n"
            f"  endpoint {' '.join(endpoints)}\n  stale_after 2s\n }}\n}}\n")


def ready(port) -> int:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2).getcode()
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def test_a_frozen_member_is_left_for_another(tmp_path, cluster):
    """SIGSTOP on the member the copy reads from: within stale_after (2 s) the copy calls itself stale
    (/ready 503), moves to another member, and shows a change made meanwhile."""
    m0, m1, _ = cluster.members
    w = Writer(m1)
    w.put("a.svc.skydns.local", {"host": "10.0.0.1"})
    rport = free_port()
    with testing.serve(corefile(w.path, cluster.urls, rport), tmp_path) as srv:
        assert addrs(srv) == ["10.0.0.1"] and ready(rport) == 200
        os.kill(m0.proc.pid, signal.SIGSTOP)
        try:
            with Logged() as logged:
                frozen = time.monotonic()
                w.put("b.svc.skydns.local", {"host": "10.0.0.2"})  # through m1, once a leader is elected
                assert eventually(lambda: addrs(srv) == ["10.0.0.1", "10.0.0.2"], timeout=15, interval=0.1)
                took = time.monotonic() - frozen
            assert metric(srv, "skydns_etcd_stalls_total") >= 1 and took < 8, took
            assert any("may be stale" in w for w in logged.warnings())
            assert eventually(lambda: ready(rport) == 200)  # current again (the stale moment: test_source)
        finally:
            os.kill(m0.proc.pid, signal.SIGCONT)
    w.client.close()


def test_a_member_that_lost_its_leader_does_not_count_as_current(tmp_path, cluster):
    """The two other members frozen: the copy's member is alive and answers, but has no leader, so
    its data may be behind. Within stale_after the copy says so (/ready 503, a warning) and keeps
    answering from what it has; with the cluster whole again it is current again."""
    m0, m1, m2 = cluster.members
    w = Writer(m1)
    w.put("a.svc.skydns.local", {"host": "10.0.0.1"})
    rport = free_port()
    with testing.serve(corefile(w.path, [m0.url], rport), tmp_path) as srv:
        assert addrs(srv) == ["10.0.0.1"] and ready(rport) == 200
        with Logged() as logged:
            for m in (m1, m2):
                os.kill(m.proc.pid, signal.SIGSTOP)
            try:
                lost = time.monotonic()
                assert eventually(lambda: ready(rport) == 503, timeout=15, interval=0.1)
                assert time.monotonic() - lost < 8
                assert eventually(lambda: any("may be stale: its member has no leader" in w
                                              for w in logged.warnings()), timeout=5)
                assert addrs(srv) == ["10.0.0.1"]  # the last copy keeps answering
            finally:
                for m in (m1, m2):
                    os.kill(m.proc.pid, signal.SIGCONT)
        assert eventually(lambda: ready(rport) == 200, timeout=20, interval=0.2)
    w.client.close()


def test_a_silent_network_path_is_left_for_another(tmp_path, cluster):
    """The path to the member goes silent (packets dropped, the connection still open): the same."""
    m0, m1, m2 = cluster.members
    w = Writer(m1)
    w.put("a.svc.skydns.local", {"host": "10.0.0.1"})
    proxy = Proxy(m0.port)
    try:
        with testing.serve(corefile(w.path, [proxy.url, m1.url, m2.url], free_port()), tmp_path) as srv:
            assert addrs(srv) == ["10.0.0.1"]
            proxy.freeze()
            cut = time.monotonic()
            w.put("b.svc.skydns.local", {"host": "10.0.0.2"})
            assert eventually(lambda: addrs(srv) == ["10.0.0.1", "10.0.0.2"], timeout=15, interval=0.2)
            assert metric(srv, "skydns_etcd_stalls_total") >= 1 and time.monotonic() - cut < 8
    finally:
        proxy.thaw()
        proxy.close()
    w.client.close()


def test_after_a_long_outage_the_copy_catches_up_within_seconds(tmp_path, etcd, data, outage_seconds):
    """etcd unreachable for 8 s (past the back-off's cap; --outage-seconds 60 for the long one): once
    it is back, changes made meanwhile are answered within 5 s, however long the outage was."""
    data.put("a.svc.skydns.local", {"host": "10.0.0.1"})
    proxy = Proxy(etcd.port)
    try:
        with testing.serve(data.block(endpoint=proxy.url), tmp_path) as srv:
            assert addrs(srv) == ["10.0.0.1"]
            proxy.block()
            data.put("b.svc.skydns.local", {"host": "10.0.0.2"})
            time.sleep(outage_seconds)  # the outage itself: what the test is about
            assert addrs(srv) == ["10.0.0.1"]
            proxy.unblock()
            back = time.monotonic()
            assert eventually(lambda: addrs(srv) == ["10.0.0.1", "10.0.0.2"], timeout=15, interval=0.1)
            took = time.monotonic() - back
            print(f"caught up {took:.2f}s after a {outage_seconds:.0f}s outage")
            assert took < 5, took
    finally:
        proxy.close()


def test_stale_after_is_checked(tmp_path):
    from skydns import config
    from skydns.config.errors import CorefileError
    (tmp_path / "Corefile").write_text("a.example {\n etcd {\n  stale_after 500ms\n }\n}\n")
    with pytest.raises(CorefileError, match="Corefile:3 - plugin/etcd: stale_after must be at least 1s"):
        config.load(str(tmp_path / "Corefile"))


def test_discover_follows_the_member_list(tmp_path, cluster):
    """SkyDNS's -discover (etcd { discover }): given one member, the copy learns the others from the member
    list, so when that member freezes it moves to one it was never told of."""
    m0, m1, _ = cluster.members
    w = Writer(m1)
    w.put("a.svc.skydns.local", {"host": "10.0.0.1"})
    text = (f"skydns.local:0 {{\n etcd {{\n  path {w.path}\n  endpoint {m0.url}\n  stale_after 2s\n"
            "  discover\n }\n}\n")
    with Logged() as logged, testing.serve(text, tmp_path) as srv:
        assert addrs(srv) == ["10.0.0.1"]

        def learnt():
            lines = [line for line in logged.lines("skydns.plugin.etcd") if line.startswith("etcd members: ")]
            return lines and set(lines[-1].split(" (were ")[0][len("etcd members: "):].split(", ")) == \
                set(cluster.urls)

        assert eventually(learnt, timeout=10)
        os.kill(m0.proc.pid, signal.SIGSTOP)
        try:
            w.put("b.svc.skydns.local", {"host": "10.0.0.2"})
            assert eventually(lambda: addrs(srv) == ["10.0.0.1", "10.0.0.2"], timeout=15, interval=0.1)
        finally:
            os.kill(m0.proc.pid, signal.SIGCONT)
    w.client.close()
