"""Every HTTP listener bounded (issue 27): bodies refused at their headers, a request within its read deadline,
a connection cap with eviction, no query strings in the access log, loopback by default."""
import select
import socket
import ssl

import dns.message
import pytest
from twisted.internet import task

from helpers import Logged, free_port
from skydns import testing

TOKEN = "s3cret-t0ken-value"


def exchange(port: int, data: bytes, timeout: float = 3.0, tls: bool = False) -> bytes:
    """Send ``data`` and read what comes back until the server closes or ``timeout`` passes."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s = raw
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.set_alpn_protocols(["http/1.1"])
        s = ctx.wrap_socket(raw, server_hostname="localhost")
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                return out
            except (ConnectionResetError, ssl.SSLError):
                return out
            if not chunk:
                return out
            out += chunk
    finally:
        s.close()


def closed(sock) -> bool:
    """Has the server closed (or reset) this connection? Waits for the answer (3 s at most)."""
    sock.settimeout(3)
    try:
        return sock.recv(100) == b""
    except ConnectionResetError:
        return True


@pytest.fixture
def api(tmp_path, data):
    port = free_port()
    text = (f"skydns.local:0 {{\n api 127.0.0.1:{port} {{\n  token {TOKEN}\n }}\n health 127.0.0.1:{free_port()}\n"
            f" etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path, clock=task.Clock()) as srv:
        srv.http = port
        yield srv


def test_a_huge_body_is_refused_at_its_headers(api):
    """100 MB announced to the records API without a token: 413 before a byte of the body is sent."""
    head = (b"POST /skydns/api/records/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n")
    reply = exchange(api.http, head, timeout=3)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:80]


def test_a_chunked_body_is_cut_at_the_limit(api):
    """A chunked body goes on past 64 KiB: 413 and the connection closed, the rest never read."""
    head = (b"PUT /skydns/api/records/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Authorization: Bearer " + TOKEN.encode() + b"\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (16384, b"x" * 16384)
    reply = exchange(api.http, head + chunk * 5, timeout=3)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:80]


def test_a_dripping_client_is_closed_by_the_read_deadline(api):
    """A header line now and then never makes a whole request: after the read deadline (10 s, on the test's
    clock) the connection is closed."""
    s = socket.create_connection(("127.0.0.1", api.http), timeout=3)
    try:
        s.sendall(b"GET /skydns/api/records HTTP/1.1\r\nX-Slow: 1\r\n")
        # the server has read them: the read deadline is on the test's clock, next to the idle one
        assert testing.eventually(lambda: len(api.clock.getDelayedCalls()) >= 2)
        api.advance(5)
        s.sendall(b"X-Slow: 2\r\n")  # more bytes, no whole request: the deadline stays
        api.advance(5)
        assert closed(s)
    finally:
        s.close()


def test_connections_are_capped_and_the_stalest_goes(api):
    """Past 100 connections, a new one takes the place of the one idle longest: a client holding connections
    open cannot lock others out (nor use the process's descriptors up)."""
    held = []
    try:
        for _ in range(100):
            c = socket.create_connection(("127.0.0.1", api.http), timeout=3)
            c.sendall(b"GET /skydns/api/records HTTP/1.1\r\n")  # never finished
            held.append(c)
        reply = exchange(api.http, b"GET /skydns/api/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 200 ")
        gone = select.select(held, [], [], 3)[0]  # one of them (all equally idle on the test's clock) made room
        assert len(gone) == 1 and closed(gone[0])
    finally:
        for c in held:
            c.close()


def access_lines(logged) -> list[str]:
    return [line for e in logged.events for line in [str(e.get("log_format", "")) + repr(e)] if "HTTP/1.1" in line]


def test_tokens_and_queries_stay_out_of_the_access_log(api):
    with Logged() as logged:
        exchange(api.http, f"DELETE /skydns/api/records/x?token={TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: close"
                           "\r\n\r\n".encode())
    lines = access_lines(logged)
    assert any("/skydns/api/records/x?..." in line for line in lines), lines
    assert not any(TOKEN in repr(e) for e in logged.events)


def test_the_access_log_holds_changes_and_refusals_not_probes(api):
    """GETs that succeed (a health check every few seconds, a metrics scrape, a listing) are not logged; a write
    and a refused request are."""
    with Logged() as logged:
        for _ in range(3):
            exchange(api.http, b"GET /skydns/api/openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert access_lines(logged) == []
        exchange(api.http, b"GET /skydns/api/records HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")  # 401
        exchange(api.http, f"PUT /skydns/api/records/web HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                           "Content-Length: 2\r\nConnection: close\r\n\r\n{}".encode())
    lines = access_lines(logged)
    assert len(lines) == 2 and '"GET /skydns/api/records HTTP/1.1" 401' in lines[0] and '"PUT ' in lines[1], lines


@pytest.mark.parametrize("directive, port", [("health", 8080), ("ready", 8181), ("prometheus", 9153),
                                             ("api", 9001)])
def test_http_plugins_listen_on_loopback_by_default(directive, port):
    """Only DNS over HTTPS serves clients: the other HTTP listeners are loopback unless told otherwise."""
    from skydns.config.registry import Registry
    from skydns.interfaces import IPluginSetup  # noqa: F401

    setup = Registry().setup(directive, None)
    body = f" {directive}" + (" {\n  token 0123456789\n }" if directive == "api" else "")
    (cfg,) = testing.parsed(f"example.org {{\n{body}\n whoami\n}}\n", setup)
    host, bound = (cfg[0], cfg[1]) if isinstance(cfg, tuple) else (cfg.host, cfg.port)
    assert (host, bound) == ("127.0.0.1", port)


def test_doh_refuses_a_huge_post_at_its_headers(tmp_path):
    from helpers.certs import make_pki

    pki = make_pki(tmp_path)
    text = f"https://.:0 {{\n tls {pki['server']} {pki['server_key']}\n whoami\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        head = (b"POST /dns-query HTTP/1.1\r\nHost: x\r\nContent-Type: application/dns-message\r\n"
                b"Content-Length: 100000\r\n\r\n")
        reply = exchange(srv.port, head, timeout=3, tls=True)
        assert reply.startswith(b"HTTP/1.1 413 "), reply[:80]
        ok = exchange(srv.port, b"POST /dns-query HTTP/1.1\r\nHost: x\r\nContent-Type: application/dns-message\r\n"
                                b"Connection: close\r\nContent-Length: %d\r\n\r\n" %
                      len(dns.message.make_query("a.example.", "A").to_wire())
                      + dns.message.make_query("a.example.", "A").to_wire(), timeout=3, tls=True)
        assert ok.startswith(b"HTTP/1.1 200 ")


def test_a_doh_reply_to_a_client_gone_is_dropped_quietly():
    """The stream was reset before the answer (HTTP/2's StreamClosedError): nothing escapes, nothing is raised."""
    from h2.exceptions import StreamClosedError

    from skydns.listen.doh.http1 import _Answer

    class Reset:
        finished = False

        def setHeader(self, *a):
            pass

        def write(self, data):
            raise StreamClosedError(1)

        def finish(self):
            raise AssertionError("not reached")

    _Answer(Reset()).send(b"\x00" * 12)


def test_an_answer_after_the_client_left_arms_no_timer():
    """A client closes with a query out; its answer comes later: no idle timer is set for the closed
    connection (it fired once per such connection and aborted a transport already gone)."""
    from twisted.internet.testing import StringTransport
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    from skydns.listen.httpbounds import BoundedHTTPFactory
    from skydns.listen.transport import StreamLimits

    class Listener:
        limits = StreamLimits(idle=10.0, read=5.0, write=5.0, max_connections=10)

    class Aborted(StringTransport):
        aborts = 0

        def abortConnection(self):
            self.aborts += 1

    clock = task.Clock()
    factory = BoundedHTTPFactory(Site(Resource()), Listener(), clock)
    conn = factory.buildProtocol(None)
    transport = Aborted()
    conn.makeConnection(transport)
    conn.request_started()
    conn.connectionLost(None)
    assert not clock.getDelayedCalls()
    conn.replied()  # the answer of the request the client did not wait for
    assert not clock.getDelayedCalls()
    clock.advance(60)
    conn._close()
    assert transport.aborts == 0


def test_a_dns_reply_after_the_client_left_is_dropped():
    """DNS over TCP (and TLS): a reply to a closed connection writes nothing and arms no idle timer."""
    from twisted.internet.testing import StringTransport

    from skydns.listen.transport import DNSStreamFactory, StreamLimits

    class Server:
        def handle(self, *a):
            pass

    class Listener:
        limits = StreamLimits(idle=10.0, read=5.0, write=5.0, max_connections=10)
        server = Server()

    clock = task.Clock()
    proto = DNSStreamFactory(Listener(), clock).buildProtocol(None)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(len(b"x" * 12).to_bytes(2, "big") + b"x" * 12)
    proto.connectionLost(None)
    assert not clock.getDelayedCalls()
    proto.send(b"y" * 12)
    assert transport.value() == b"" and not clock.getDelayedCalls()
