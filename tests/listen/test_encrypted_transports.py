"""DNS over TLS (RFC 7858) and over HTTPS (RFC 8484) listeners, as CoreDNS writes them: tls:// and https://
server blocks with the tls directive, queried by dnspython, kdig and dig (BIND 9.18)."""
import base64
import shutil
import socket
import ssl
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import httpx2 as httpx  # what dnspython[doh] installs (a maintained httpx with HTTP/2)
import pytest

from helpers import eventually
from helpers.certs import make_pki
from helpers.logs import Logged
from helpers.metrics import scrape, value
from skydns import testing
from skydns.config.errors import CorefileError

pytestmark = pytest.mark.integration


def corefile(pki, dot, doh, extra=""):
    return (f"tls://.:{dot} {{\n tls {pki['server']} {pki['server_key']}\n whoami\n{extra}}}\n"
            f"https://.:{doh} {{\n tls {pki['server']} {pki['server_key']}\n whoami\n{extra}}}\n")


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path)


@pytest.fixture
def ports():
    return testing.free_port(), testing.free_port()


def context(pki):
    ctx = ssl.create_default_context(cafile=pki["ca"])
    return ctx


def srv_label(msg):
    return [rr.name.to_text().split(".")[0] for rr in msg.additional if rr.rdtype == 33]


def test_dnspython_over_tls_and_https(tmp_path, pki, ports):
    """dns.query.tls and dns.query.https (HTTP/2 and HTTP/1.1, GET and POST); whoami reports the transport."""
    dot, doh = ports
    with testing.serve(corefile(pki, dot, doh), tmp_path):
        q = dns.message.make_query("example.org", "A")
        r = dns.query.tls(q, "127.0.0.1", port=dot, ssl_context=context(pki), server_hostname="localhost", timeout=5)
        assert r.rcode() == dns.rcode.NOERROR and srv_label(r) == ["_tls"]
        for version in (dns.query.HTTPVersion.H2, dns.query.HTTPVersion.H1):
            for post in (True, False):
                r = dns.query.https(q, f"https://localhost:{doh}/dns-query", verify=context(pki), bootstrap_address="127.0.0.1", post=post,
                                    http_version=version, timeout=5)
                assert r.rcode() == dns.rcode.NOERROR and srv_label(r) == ["_https"], (version, post)


def test_https_speaks_http2_and_http1(tmp_path, pki, ports):
    """ALPN picks h2 when the client offers it; RFC 8484 errors for bad requests; max-age from the TTLs."""
    dot, doh = ports
    with testing.serve(corefile(pki, dot, doh), tmp_path):
        q = dns.message.make_query("example.org", "A")
        q.id = 0
        url = f"https://localhost:{doh}/dns-query"
        with httpx.Client(http2=True, verify=context(pki)) as c:
            r = c.post(url, content=q.to_wire(), headers={"content-type": "application/dns-message"})
            assert r.http_version == "HTTP/2" and r.status_code == 200
            assert r.headers["content-type"] == "application/dns-message"
            assert r.headers["cache-control"] == "max-age=0"  # whoami's TTL
            assert dns.message.from_wire(r.content).id == 0
            assert c.post(url, content=q.to_wire(), headers={"content-type": "text/plain"}).status_code == 415
            assert c.get(url).status_code == 400
            assert c.get(url, params={"dns": "%%%"}).status_code == 400
            assert c.get(f"https://localhost:{doh}/other").status_code == 404
            dns_param = base64.urlsafe_b64encode(q.to_wire()).rstrip(b"=").decode()
            r = c.get(url, params={"dns": dns_param})
            assert r.status_code == 200 and dns.message.from_wire(r.content).rcode() == 0
        with httpx.Client(http2=False, verify=context(pki)) as c:
            r = c.post(url, content=q.to_wire(), headers={"content-type": "application/dns-message"})
            assert r.http_version == "HTTP/1.1" and r.status_code == 200


@pytest.mark.skipif(not shutil.which("kdig"), reason="no kdig")
def test_kdig_tls_and_https(tmp_path, pki, ports):
    dot, doh = ports
    with testing.serve(corefile(pki, dot, doh), tmp_path):
        for port, flag, label in ((dot, "+tls", "_tls"), (doh, "+https", "_https")):
            out = subprocess.run(["kdig", "@127.0.0.1", "-p", str(port), flag, f"+tls-ca={pki['ca']}",
                                  "+tls-hostname=localhost", "example.org", "A"],
                                 capture_output=True, text=True, timeout=15).stdout
            assert "NOERROR" in out and f"{label}.example.org." in out, out


def dig_has(*options):
    out = subprocess.run(["dig", "-h"], capture_output=True, text=True).stdout.replace("[no]", "")
    return all(o in out for o in options)


@pytest.mark.skipif(not shutil.which("dig") or not dig_has("+tls-ca", "+https"), reason="no dig with +tls/+https")
def test_dig_tls_and_https(tmp_path, pki, ports):
    dot, doh = ports
    with testing.serve(corefile(pki, dot, doh), tmp_path):
        for port, flag, label in ((dot, "+tls", "_tls"), (doh, "+https", "_https")):
            out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), flag, f"+tls-ca={pki['ca']}",
                                  "+tls-hostname=localhost", "example.org", "A"],
                                 capture_output=True, text=True, timeout=15).stdout
            assert "status: NOERROR" in out and f"{label}.example.org." in out, out


def test_log_and_prometheus_show_the_transport(tmp_path, pki):
    """{transport} in log lines; prometheus's server label is the key of the transport (tls://..., https://...)."""
    dns_port, dot, doh, metrics = (testing.free_port() for _ in range(4))
    text = (f".:{dns_port} tls://.:{dot} https://.:{doh} {{\n tls {pki['server']} {pki['server_key']}\n"
            f" log . \"{{transport}} {{proto}} {{name}}\"\n prometheus 127.0.0.1:{metrics}\n whoami\n}}\n")
    with Logged() as logged, testing.serve(text, tmp_path) as srv:
        q = dns.message.make_query("example.org", "A")
        srv.query("example.org")
        dns.query.tls(q, "127.0.0.1", port=dot, ssl_context=context(pki), server_hostname="localhost", timeout=5)
        dns.query.https(q, f"https://localhost:{doh}/dns-query", verify=context(pki), bootstrap_address="127.0.0.1", timeout=5)
        want = {"dns udp example.org.", "tls tcp example.org.", "https tcp example.org."}
        def logged_lines():
            return {line for text in logged.lines("skydns.plugin.log") for line in text.splitlines()}

        assert eventually(lambda: want <= logged_lines()), logged_lines()
        samples = scrape(metrics)
        for server, proto in ((f".:{dns_port}", "udp"), (f"tls://.:{dot}", "tcp"), (f"https://.:{doh}", "tcp")):
            labels = dict(server=server, zone=".", proto=proto, family="1", type="A")
            assert value(samples, "skydns_dns_request_count_total", **labels) == 1, (server, samples)


def test_reload_keeps_tls_listeners_and_takes_a_new_certificate(tmp_path, pki, ports):
    """A reload keeps tls:// and https:// ports open (the same listening port objects) and new connections
    get the new certificate; connections open before the reload keep working."""
    dot, doh = ports
    with testing.serve(corefile(pki, dot, doh), tmp_path) as srv:
        q = dns.message.make_query("example.org", "A")
        before = {k: list(v.ports) for k, v in srv.service.listeners.items()}
        sock = socket.create_connection(("127.0.0.1", dot))
        kept = context(pki).wrap_socket(sock, server_hostname="localhost")
        other = make_pki(tmp_path / "new" if (tmp_path / "new").mkdir() is None else tmp_path)
        srv.write(corefile(other, dot, doh))
        assert srv.reload()
        assert {k: list(v.ports) for k, v in srv.service.listeners.items()} == before
        r = dns.query.tls(q, "127.0.0.1", port=dot, sock=kept, timeout=5)  # the connection made before
        assert r.rcode() == 0
        with pytest.raises(ssl.SSLCertVerificationError):  # new connections: the new certificate
            dns.query.tls(q, "127.0.0.1", port=dot, ssl_context=context(pki), server_hostname="localhost", timeout=5)
        r = dns.query.tls(q, "127.0.0.1", port=dot, ssl_context=context(other), server_hostname="localhost", timeout=5)
        assert r.rcode() == 0
        r = dns.query.https(q, f"https://localhost:{doh}/dns-query", verify=context(other), bootstrap_address="127.0.0.1", timeout=5)
        assert r.rcode() == 0
        kept.close()


@pytest.mark.parametrize("transport", ["tls", "https"])
def test_idle_and_dripping_clients_are_closed(tmp_path, pki, ports, transport):
    """Bounded like TCP: a TLS client that sends nothing, or drips an unfinished query, is closed after idle."""
    dot, doh = ports
    port = dot if transport == "tls" else doh
    with testing.serve(corefile(pki, dot, doh, " timeouts {\n  idle 1s\n  read 1s\n }\n"), tmp_path):
        idle = context(pki).wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
        drip = context(pki).wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
        start = time.monotonic()
        drip.settimeout(0.3)
        payload = b"\x00\x40" if transport == "tls" else b"POST /dns-query HTTP/1.1\r\nHost: x\r\n"
        closed = None
        for i in range(40):  # 12 s of dripping at most
            try:
                drip.sendall(payload[i % len(payload):i % len(payload) + 1])
                if drip.recv(100) == b"":
                    closed = time.monotonic() - start
                    break
            except TimeoutError:
                continue
            except (ssl.SSLError, OSError):
                closed = time.monotonic() - start
                break
        assert closed is not None and closed < 4, closed
        idle.settimeout(3)
        try:
            assert idle.recv(100) == b""
        except (ssl.SSLError, ConnectionResetError):
            pass


def test_max_connections_holds_for_https(tmp_path, pki, ports):
    """At the cap, a new HTTPS client takes the place of the idlest connection and is answered."""
    dot, doh = ports
    with testing.serve(corefile(pki, dot, doh, " tcp {\n  max_connections 3\n }\n"), tmp_path) as srv:
        held = [context(pki).wrap_socket(socket.create_connection(("127.0.0.1", doh)), server_hostname="localhost")
                for _ in range(5)]
        q = dns.message.make_query("example.org", "A")
        r = dns.query.https(q, f"https://localhost:{doh}/dns-query", verify=context(pki), bootstrap_address="127.0.0.1", timeout=5)
        assert r.rcode() == 0
        factory = next(v for v in srv.service.listeners.values() if v.transport == "https").factory
        assert eventually(lambda: len(factory.connections) <= 3)
        for s in held:
            s.close()


def test_grpc_and_tls_without_certificate_are_refused(tmp_path):
    with pytest.raises(CorefileError, match="skydns serves dns://"):
        testing.start("grpc://.:0 {\n whoami\n}\n", tmp_path)
    with pytest.raises(CorefileError, match="needs a certificate: add 'tls CERT KEY'"):
        testing.start("tls://.:0 {\n whoami\n}\n", tmp_path)


def test_two_transports_on_one_port_are_refused(tmp_path, pki):
    port = testing.free_port()
    text = (f"example.org:{port} {{\n whoami\n}}\n"
            f"tls://example.net:{port} {{\n tls {pki['server']} {pki['server_key']}\n whoami\n}}\n")
    with pytest.raises(CorefileError, match=f"port {port} is served as dns:// by one server block and as tls://"):
        testing.start(text, tmp_path)


def test_client_certificates_when_asked(tmp_path, pki, ports):
    """tls CERT KEY CA { client_auth require_and_verify }: clients without a certificate from CA are refused."""
    dot, doh = ports
    text = (f"tls://.:{dot} {{\n tls {pki['server']} {pki['server_key']} {pki['ca']} {{\n"
            "  client_auth require_and_verify\n }\n whoami\n}\n")
    with testing.serve(text, tmp_path):
        q = dns.message.make_query("example.org", "A")
        with pytest.raises((ssl.SSLError, ConnectionResetError, EOFError, dns.exception.DNSException, OSError)):
            dns.query.tls(q, "127.0.0.1", port=dot, ssl_context=context(pki), server_hostname="localhost", timeout=3)
        ctx = context(pki)
        ctx.load_cert_chain(pki["client"], pki["client_key"])
        r = dns.query.tls(q, "127.0.0.1", port=dot, ssl_context=ctx, server_hostname="localhost", timeout=5)
        assert r.rcode() == 0


def test_https_without_tls_is_plain_http(tmp_path):
    """https:// without tls serves plain HTTP/1.1, for a TLS-terminating proxy in front (as CoreDNS)."""
    port = testing.free_port()
    with testing.serve(f"https://.:{port} {{\n whoami\n}}\n", tmp_path):
        q = dns.message.make_query("example.org", "A")
        r = httpx.post(f"http://127.0.0.1:{port}/dns-query", content=q.to_wire(),
                       headers={"content-type": "application/dns-message"}, timeout=5)
        assert r.status_code == 200 and srv_label(dns.message.from_wire(r.content)) == ["_https"]


def test_many_streams_on_one_http2_connection(tmp_path, pki, ports):
    """A hundred queries in flight on one HTTP/2 connection (streams served in turn: skydns.listen.h2turns),
    each answered with its own question."""
    import asyncio

    dot, doh = ports
    names = [f"n{i}.example.org." for i in range(100)]

    async def ask_all():
        async with httpx.AsyncClient(http2=True, verify=context(pki)) as c:
            async def one(name):
                r = await c.post(f"https://localhost:{doh}/dns-query", content=dns.message.make_query(name, "A").to_wire(),
                                 headers={"content-type": "application/dns-message"})
                assert r.http_version == "HTTP/2" and r.status_code == 200
                return dns.message.from_wire(r.content).question[0].name.to_text()
            return await asyncio.gather(*(one(n) for n in names))

    with testing.serve(corefile(pki, dot, doh), tmp_path):
        assert asyncio.run(ask_all()) == names
