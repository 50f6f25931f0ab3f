"""Credentials and TLS client certificates against a real etcd that requires them."""
import datetime
import ipaddress

import dns.rcode
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import EtcdData, eventually
from skydns import testing
from skydns.devetcd import LocalEtcd


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
        with testing.serve(bad, tmp_path) as srv:
            assert srv.query("a.skydns.local.", "A").rcode() == dns.rcode.SERVFAIL
    finally:
        server.stop()


def _cert(subject, issuer_name, issuer_key, key, ca=False, server=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
         .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                         x509.DNSName("localhost")]), critical=False)
    if not ca:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                   ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path, cert=None, key=None):
    with open(path, "wb") as f:
        if cert is not None:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        if key is not None:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return str(path)


def test_tls_client_certificates(tmp_path):
    """etcd over TLS requiring client certificates: 'tls CERT KEY CACERT' connects."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca = _cert("test ca", ca_name, ca_key, ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    files = {
        "ca": _write(tmp_path / "ca.pem", ca),
        "server": _write(tmp_path / "server.pem", _cert("etcd", ca_name, ca_key, server_key, server=True)),
        "server_key": _write(tmp_path / "server-key.pem", key=server_key),
        "client": _write(tmp_path / "client.pem", _cert("skydns", ca_name, ca_key, client_key)),
        "client_key": _write(tmp_path / "client-key.pem", key=client_key),
    }
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
