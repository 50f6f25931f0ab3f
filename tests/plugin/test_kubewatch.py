"""kubewatch against an API server that lists and watches as Kubernetes does (tests/helpers/kubeapi.py): Services
and EndpointSlices become records in a real etcd, answered by a running server and checked with a DNS client."""
from __future__ import annotations

import os
import signal
import subprocess

import dns.rcode
import pytest

from helpers import LEASE_REVOKE_SLACK, Logged, eventually, metric
from helpers.kubeapi import FakeKubeAPI, endpoint_slice, service
from helpers.processes import BIN, ROOT, env
from skydns import testing
from skydns.plugin.kubewatch import api as kubeapi

pytestmark = pytest.mark.integration
ZONE = "skydns.local."


@pytest.fixture
def cluster(tmp_path):
    fake = FakeKubeAPI()
    (tmp_path / "token").write_text("kubewatch-token\n")
    yield fake
    fake.close()


def corefile(data, fake, tmp_path, extra="", port=0):
    return (f"skydns.local:{port} {{\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n"
            f" kubewatch {{\n  endpoint {fake.url}\n  token_file {tmp_path / 'token'}\n  lease 3s\n{extra} }}\n}}\n")


def addrs(srv, name):
    r = srv.query(name, "A")
    return sorted(rr.address for rrset in r.answer for rr in rrset if rrset.rdtype == 1) \
        if r.rcode() == dns.rcode.NOERROR else r.rcode()


def srv_records(srv, name):
    r = srv.query(name, "SRV")
    return sorted((rr.port, rr.target.to_text()) for rrset in r.answer for rr in rrset if rrset.rdtype == 33)


def test_services_are_created_changed_and_deleted(tmp_path, data, cluster):
    """The fork's example: a service with external IPs answers NAME.NAMESPACE.svc.<zone>; its named port is an SRV
    record; changes and deletion follow; a service without outside addresses has no record."""
    cluster.apply("services", service("qiyf-nginx-5", external_ips=["192.168.19.113"]))
    cluster.apply("services", service("internal"))  # ClusterIP only
    with testing.serve(corefile(data, cluster, tmp_path), tmp_path) as srv:
        name = "qiyf-nginx-5.default.svc.skydns.local."
        assert eventually(lambda: addrs(srv, name) == ["192.168.19.113"], timeout=10)
        assert srv_records(srv, "_http._tcp." + name) == [(80, name)]
        assert addrs(srv, "internal.default.svc.skydns.local.") == dns.rcode.NXDOMAIN
        cluster.apply("services", service("qiyf-nginx-5", external_ips=["192.168.19.113", "192.168.19.114"],
                                          ingress=["203.0.113.7"]))
        assert eventually(lambda: addrs(srv, name) == ["192.168.19.113", "192.168.19.114", "203.0.113.7"])
        cluster.apply("services", service("web", "prod", external_ips=["192.168.20.1"]))
        assert eventually(lambda: addrs(srv, "web.prod.svc.skydns.local.") == ["192.168.20.1"])
        cluster.delete("services", "default", "qiyf-nginx-5")
        assert eventually(lambda: addrs(srv, name) == dns.rcode.NXDOMAIN)
        assert eventually(lambda: srv_records(srv, "_http._tcp." + name) == [])
        cluster.apply("services", service("old", external_name="legacy.example.org", ports=()))
        r = srv.query("old.default.svc.skydns.local.", "CNAME")
        assert eventually(lambda: [rr.target.to_text() for rrset in srv.query(
            "old.default.svc.skydns.local.", "CNAME").answer for rr in rrset] == ["legacy.example.org."]), r


def test_cluster_ips_on_request(tmp_path, data, cluster):
    cluster.apply("services", service("api", cluster_ip="10.96.0.20"))
    with testing.serve(corefile(data, cluster, tmp_path, "  cluster_ip\n"), tmp_path) as srv:
        assert eventually(lambda: addrs(srv, "api.default.svc.skydns.local.") == ["10.96.0.20"], timeout=10)


def test_namespaces_and_labels_filter(tmp_path, data, cluster):
    cluster.apply("services", service("a", "default", external_ips=["192.0.2.1"]))
    cluster.apply("services", service("b", "kube-system", external_ips=["192.0.2.2"]))
    cluster.apply("services", service("c", "prod", external_ips=["192.0.2.3"], labels={"dns": "no"}))
    cluster.apply("services", service("d", "prod", external_ips=["192.0.2.4"], labels={"dns": "yes"}))
    extra = "  namespaces default prod\n  labels dns!=no\n"
    with testing.serve(corefile(data, cluster, tmp_path, extra), tmp_path) as srv:
        assert eventually(lambda: addrs(srv, "d.prod.svc.skydns.local.") == ["192.0.2.4"], timeout=10)
        assert addrs(srv, "a.default.svc.skydns.local.") == ["192.0.2.1"]
        assert addrs(srv, "b.kube-system.svc.skydns.local.") == dns.rcode.NXDOMAIN  # not a namespace named
        assert addrs(srv, "c.prod.svc.skydns.local.") == dns.rcode.NXDOMAIN  # its labels are not selected
        assert any("/api/v1/namespaces/prod/services" in r for r in cluster.requests)
    with testing.serve(corefile(data, cluster, tmp_path, "  exclude_namespaces kube-system\n"), tmp_path) as srv:
        assert eventually(lambda: addrs(srv, "c.prod.svc.skydns.local.") == ["192.0.2.3"], timeout=10)
        assert addrs(srv, "b.kube-system.svc.skydns.local.") == dns.rcode.NXDOMAIN


def test_headless_services_answer_their_ready_endpoints(tmp_path, data, cluster):
    """A headless service: one name per ready endpoint (its hostname, or its address with dashes), the service's
    name answering all of them, named ports as SRV records to the endpoints' names; readiness follows."""
    cluster.apply("services", service("db", cluster_ip="None", ports=(("pg", "TCP", 5432),)))
    cluster.apply("endpointslices", endpoint_slice("db", endpoints=[("10.1.0.1", True, "db-0"),
                                                                    ("10.1.0.2", True, None),
                                                                    ("10.1.0.3", False, "db-2")],
                                                   ports=(("pg", "TCP", 5432),)))
    with testing.serve(corefile(data, cluster, tmp_path), tmp_path) as srv:
        base = "db.default.svc.skydns.local."
        assert eventually(lambda: addrs(srv, base) == ["10.1.0.1", "10.1.0.2"], timeout=10)
        assert addrs(srv, "db-0." + base) == ["10.1.0.1"]
        assert addrs(srv, "10-1-0-2." + base) == ["10.1.0.2"]
        assert addrs(srv, "db-2." + base) == dns.rcode.NXDOMAIN  # not ready
        targets = srv_records(srv, "_pg._tcp." + base)  # each target names one endpoint's address
        assert [port for port, _ in targets] == [5432, 5432]
        assert sorted(addrs(srv, target)[0] for _, target in targets) == ["10.1.0.1", "10.1.0.2"]
        cluster.apply("endpointslices", endpoint_slice("db", endpoints=[("10.1.0.1", False, "db-0"),
                                                                        ("10.1.0.2", True, None),
                                                                        ("10.1.0.3", True, "db-2")],
                                                       ports=(("pg", "TCP", 5432),)))
        assert eventually(lambda: addrs(srv, base) == ["10.1.0.2", "10.1.0.3"])
        assert addrs(srv, "db-0." + base) == dns.rcode.NXDOMAIN
        cluster.delete("endpointslices", "default", "db-abcde")
        assert eventually(lambda: addrs(srv, base) == dns.rcode.NXDOMAIN)


def test_410_gone_lists_again_and_bookmarks_keep_the_watch(tmp_path, data, cluster, monkeypatch):
    """A compaction while watching: ERROR 410 on the open watches, a list again, nothing lost. A bookmark moves
    the version on, so a watch started again after a quiet while (here: every second) is not 410."""
    monkeypatch.setattr(kubeapi, "WATCH_SECONDS", 1)
    cluster.apply("services", service("a", external_ips=["192.0.2.1"]))
    with testing.serve(corefile(data, cluster, tmp_path), tmp_path) as srv:
        assert eventually(lambda: addrs(srv, "a.default.svc.skydns.local.") == ["192.0.2.1"], timeout=10)
        lists = metric(srv, "skydns_kubewatch_lists_total")
        for _ in range(3):  # changes elsewhere move the version; only bookmarks tell the watcher
            cluster.bookmark()
            watches = cluster.watches
            assert eventually(lambda w=watches: cluster.watches >= w + 2, timeout=10)  # watched again, both kinds
            cluster.forget_before(cluster.rv)  # what the watcher last heard of is kept, nothing older
        assert metric(srv, "skydns_kubewatch_lists_total") == lists  # no 410: no list again
        cluster.compact()
        cluster.apply("services", service("b", external_ips=["192.0.2.2"]))
        assert eventually(lambda: metric(srv, "skydns_kubewatch_lists_total") >= lists + 2, timeout=10)
        assert eventually(lambda: addrs(srv, "b.default.svc.skydns.local.") == ["192.0.2.2"], timeout=10)
        assert addrs(srv, "a.default.svc.skydns.local.") == ["192.0.2.1"]


def test_expired_credentials_are_said_and_a_rotated_token_taken(tmp_path, data, cluster):
    """401 (the token expired): a warning saying so, the records kept; the token file rotated: taken without a
    restart. 403: a warning naming what the account may not list."""
    cluster.apply("services", service("a", external_ips=["192.0.2.1"]))
    with Logged() as logged, testing.serve(corefile(data, cluster, tmp_path), tmp_path) as srv:
        assert eventually(lambda: addrs(srv, "a.default.svc.skydns.local.") == ["192.0.2.1"], timeout=10)
        cluster.tokens = {"rotated-token"}
        cluster.compact()  # the watches end; the next list is refused
        assert eventually(lambda: any("401 unauthorized" in line for line in logged.warnings(
            "skydns.plugin.kubewatch")), timeout=10)
        assert addrs(srv, "a.default.svc.skydns.local.") == ["192.0.2.1"]  # kept meanwhile
        (tmp_path / "token").write_text("rotated-token\n")
        cluster.apply("services", service("b", external_ips=["192.0.2.2"]))
        assert eventually(lambda: addrs(srv, "b.default.svc.skydns.local.") == ["192.0.2.2"], timeout=15)
        cluster.forbidden = {"endpointslices"}
        cluster.compact()
        assert eventually(lambda: any("403 forbidden: the account may not list and watch endpointslices" in line
                                      for line in logged.warnings("skydns.plugin.kubewatch")), timeout=10)


def test_two_watchers_share_the_services_and_take_over(tmp_path, data, cluster):
    for i in range(12):
        cluster.apply("services", service(f"s{i}", external_ips=[f"192.0.2.{i + 1}"]))
    names = [f"s{i}.default.svc.skydns.local." for i in range(12)]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with testing.serve(corefile(data, cluster, tmp_path, "  id w1\n"), tmp_path / "a") as one:
        with testing.serve(corefile(data, cluster, tmp_path, "  id w2\n"), tmp_path / "b") as two:
            assert eventually(lambda: metric(one, "skydns_kubewatch_watchers", watcher="w1") == 2
                              and metric(two, "skydns_kubewatch_watchers", watcher="w2") == 2, timeout=10)
            assert eventually(lambda: all(addrs(one, n) == [f"192.0.2.{i + 1}"] for i, n in enumerate(names)),
                              timeout=10)
            shares = (metric(one, "skydns_kubewatch_services", watcher="w1"),
                      metric(two, "skydns_kubewatch_services", watcher="w2"))
            assert sum(shares) == 12 and min(shares) > 0, shares  # each service written by one watcher
        # w2 stopped (its lease revoked, its records gone): w1 takes its share over
        assert eventually(lambda: metric(one, "skydns_kubewatch_services", watcher="w1") == 12, timeout=10)
        assert eventually(lambda: all(addrs(one, n) == [f"192.0.2.{i + 1}"] for i, n in enumerate(names)),
                          timeout=10)


def test_a_killed_watchers_records_expire_with_its_lease(tmp_path, data, cluster):
    cluster.apply("services", service("a", external_ips=["192.0.2.1"]))
    port = testing.free_port()
    (tmp_path / "Corefile.watcher").write_text(corefile(data, cluster, tmp_path, port=port))
    log = open(tmp_path / "skydns.log", "w")
    proc = subprocess.Popen([os.path.join(BIN, "skydns"), "-c", str(tmp_path / "Corefile.watcher")], env=env(),
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        with testing.serve(data.block(), tmp_path) as srv:
            assert eventually(lambda: addrs(srv, "a.default.svc.skydns.local.") == ["192.0.2.1"], timeout=15), \
                (tmp_path / "skydns.log").read_text()[-3000:]
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            assert addrs(srv, "a.default.svc.skydns.local.") == ["192.0.2.1"]  # until its lease (3 s) runs out
            assert eventually(lambda: addrs(srv, "a.default.svc.skydns.local.") == dns.rcode.NXDOMAIN,
                              timeout=3 + LEASE_REVOKE_SLACK)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_kubeconfig_and_in_cluster_credentials_over_tls(tmp_path, data, monkeypatch):
    """The API over HTTPS: a kubeconfig (its current context, the CA inline, a token), and the pod's service
    account (KUBERNETES_SERVICE_HOST and the token and CA files)."""
    import base64

    from helpers.certs import make_pki

    pki = make_pki(tmp_path)
    fake = FakeKubeAPI(pki=pki)
    try:
        fake.apply("services", service("tls", external_ips=["192.0.2.9"]))
        ca = open(pki["ca"], "rb").read()
        (tmp_path / "kubeconfig").write_text(f"""apiVersion: v1
kind: Config
current-context: test
clusters:
- name: c
  cluster:
    server: {fake.url}
    certificate-authority-data: {base64.b64encode(ca).decode()}
users:
- name: u
  user:
    token: kubewatch-token
contexts:
- name: other
  context: {{cluster: c, user: nobody}}
- name: test
  context: {{cluster: c, user: u}}
""")
        text = (f"skydns.local:0 {{\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n"
                f" kubewatch {{\n  kubeconfig {tmp_path / 'kubeconfig'}\n }}\n}}\n")
        with testing.serve(text, tmp_path) as srv:
            assert eventually(lambda: addrs(srv, "tls.default.svc.skydns.local.") == ["192.0.2.9"], timeout=10)
        account = tmp_path / "serviceaccount"
        account.mkdir()
        (account / "token").write_text("kubewatch-token")
        (account / "ca.crt").write_bytes(ca)
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(fake.port))
        text = (f"skydns.local:0 {{\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n"
                f" kubewatch {{\n  serviceaccount {account}\n  id pod\n }}\n}}\n")
        fake.apply("services", service("pod", external_ips=["192.0.2.10"]))
        with testing.serve(text, tmp_path) as srv:
            assert eventually(lambda: addrs(srv, "pod.default.svc.skydns.local.") == ["192.0.2.10"], timeout=10)
    finally:
        fake.close()


@pytest.mark.parametrize("body, words", [
    (" kubewatch {\n  kubeconfig /nonexistent/kubeconfig\n }\n", "kubeconfig /nonexistent/kubeconfig: No such file"),
    (" kubewatch {\n  endpoint ftp://x\n }\n", "must start with https://"),
    (" kubewatch {\n  namespaces Not_A_Namespace\n }\n", "is not a namespace name"),
    (" kubewatch example.org {\n  endpoint http://x\n }\n", "not served by this server block"),
    (" kubewatch {\n  lease 1s\n endpoint http://x\n }\n", "lease must be whole seconds, at least 2s"),
    (" kubewatch {\n  endpoint http://x\n }\n", "needs the etcd plugin"),
])
def test_bad_configuration(tmp_path, body, words, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    etcd = "" if "needs the etcd" in words else " etcd {\n  endpoint http://127.0.0.1:1\n }\n"
    with pytest.raises(Exception, match=words):
        testing.start(f"skydns.local:0 {{\n{etcd}{body}}}\n", tmp_path)


def test_kubeconfig_reading(tmp_path):
    """Contexts pick cluster and user; files are relative to the kubeconfig; a token file is read again each time
    (rotation); plugins that authenticate by running a program are refused with the reason."""
    from skydns.plugin.kubewatch.credentials import CredentialsError, from_kubeconfig

    (tmp_path / "token").write_text("first")
    (tmp_path / "kubeconfig").write_text("""current-context: a
clusters:
- {name: c, cluster: {server: "https://k8s.example:6443/", certificate-authority: ca.crt}}
users:
- {name: file, user: {tokenFile: token}}
- {name: plugin, user: {exec: {command: aws}}}
contexts:
- {name: a, context: {cluster: c, user: file}}
- {name: b, context: {cluster: c, user: plugin}}
""")
    creds = from_kubeconfig(str(tmp_path / "kubeconfig"))
    assert (creds.server, creds.ca_file) == ("https://k8s.example:6443", str(tmp_path / "ca.crt"))
    assert creds.bearer() == "first"
    (tmp_path / "token").write_text("second\n")
    assert creds.bearer() == "second"
    with pytest.raises(CredentialsError, match="authenticates through a plugin"):
        from_kubeconfig(str(tmp_path / "kubeconfig"), "b")
    with pytest.raises(CredentialsError, match="no context named 'z'"):
        from_kubeconfig(str(tmp_path / "kubeconfig"), "z")
