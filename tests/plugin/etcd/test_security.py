"""Credentials and TLS client certificates against a real etcd that requires them."""
import dns.rcode
import pytest

from helpers import make_pki
from skydns import testing
from skydns.cli.devetcd import LocalEtcd

# etcd servers of their own, with auth and TLS
pytestmark = pytest.mark.integration


def test_credentials(tmp_path):
    """With auth enabled in etcd, 'credentials USER PASS' is what lets the copy load."""
    import pyetcd.etcdrpc as rpc

    server = LocalEtcd(str(tmp_path / "etcd")).start()
    try:
        c = server.client()
        c.put("/skydns/local/skydns/a", '{"host": "10.0.0.1"}')
        c.authstub.RoleAdd(rpc.AuthRoleAddRequest(name="root"))
        c.authstub.UserAdd(rpc.AuthUserAddRequest(name="root", password="s3cret"))
        c.authstub.UserGrantRole(rpc.AuthUserGrantRoleRequest(user="root", role="root"))
        c.authstub.AuthEnable(rpc.AuthEnableRequest())
        c.close()
        good = f"skydns.local:0 {{\n etcd {{\n  endpoint {server.url}\n  credentials root s3cret\n }}\n}}\n"
        with testing.serve(good, tmp_path) as srv:
            assert srv.query("a.skydns.local.", "A").answer[0][0].address == "10.0.0.1"
        bad = good.replace("s3cret", "wrong")
        with testing.serve(bad, tmp_path, wait=False) as srv:  # the copy never loads: no start wait
            assert srv.query("a.skydns.local.", "A").rcode() == dns.rcode.SERVFAIL
    finally:
        server.stop()


def test_tls_client_certificates(tmp_path):
    """etcd over TLS requiring client certificates: 'tls CERT KEY CACERT' connects."""
    files = make_pki(tmp_path)
    server = LocalEtcd(str(tmp_path / "etcd"), tls=(files["server"], files["server_key"], files["ca"]))
    server.client_tls = (files["client"], files["client_key"], files["ca"])
    server.start()
    try:
        c = server.client()
        c.put("/skydns/local/skydns/a", '{"host": "10.0.0.1"}')
        c.close()
        text = (f"skydns.local:0 {{\n etcd {{\n  endpoint {server.url}\n"
                f"  tls {files['client']} {files['client_key']} {files['ca']}\n }}\n}}\n")
        with testing.serve(text, tmp_path) as srv:
            assert srv.query("a.skydns.local.", "A").answer[0][0].address == "10.0.0.1"
    finally:
        server.stop()


def test_tls_with_the_ca_alone(tmp_path):
    """etcd over TLS without client certificates: 'tls CACERT' (CoreDNS's one-argument form) connects."""
    files = make_pki(tmp_path)
    server = LocalEtcd(str(tmp_path / "etcd"), tls=(files["server"], files["server_key"], files["ca"]),
                       client_cert_auth=False)
    server.client_tls = (files["client"], files["client_key"], files["ca"])
    server.start()
    try:
        c = server.client()
        c.put("/skydns/local/skydns/a", '{"host": "10.0.0.1"}')
        c.close()
        text = f"skydns.local:0 {{\n etcd {{\n  endpoint {server.url}\n  tls {files['ca']}\n }}\n}}\n"
        with testing.serve(text, tmp_path) as srv:
            assert srv.query("a.skydns.local.", "A").answer[0][0].address == "10.0.0.1"
    finally:
        server.stop()
