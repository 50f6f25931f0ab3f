"""forward: CoreDNS's options beyond the basics, each against upstream servers the tests run: several
forward lines, next, next_on_nodata, failover, max_connect_attempts, failfast_all_unhealthy_upstreams,
read_timeout, source_address, max_age, max_idle_conns, connection reuse for TCP, DoT with IP%NAME and
DNS-over-HTTPS upstreams (skydns's own https:// listener, checked against kdig and dig elsewhere)."""
import concurrent.futures
import ssl
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from helpers import closed_port, eventually, make_pki, metric
from skydns import testing


def a(srv, name="www.example.org.", **kw):
    r = srv.query(name, "A", **kw)
    return r.answer[0][0].address if r.answer else dns.rcode.to_text(r.rcode())


def test_several_forward_lines_each_for_its_zone(tmp_path, ups):
    """CoreDNS's example: the most specific zone first; each line serves its FROM, the others pass on."""
    lab, local, rest = ups(address="10.20.0.1"), ups(address="10.0.0.1"), ups(address="192.0.2.9")
    text = (f".:0 {{\n forward lab.example.local {lab.addr}\n forward example.local {local.addr}\n"
            f" forward . {rest.addr}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        assert a(srv, "db.lab.example.local.") == "10.20.0.1"
        assert a(srv, "www.example.local.") == "10.0.0.1"
        assert a(srv, "www.example.org.") == "192.0.2.9"
        assert [len(u.seen) for u in (lab, local, rest)] == [1, 1, 1]


def test_next_passes_listed_rcodes_to_the_next_forward(tmp_path, ups):
    nx, nodata, good = ups("rcode", rcode=dns.rcode.NXDOMAIN), ups("rcode", rcode=0), ups(address="192.0.2.7")
    text = f".:0 {{\n forward . {nx.addr} {{\n  next NXDOMAIN\n }}\n forward . {good.addr}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        assert a(srv) == "192.0.2.7" and len(nx.seen) == 1 and len(good.seen) == 1
    with testing.serve(f".:0 {{\n forward . {nx.addr}\n forward . {good.addr}\n}}\n", tmp_path) as srv:
        assert a(srv) == "NXDOMAIN"  # without next, the first line's answer stands
    text = f".:0 {{\n forward . {nodata.addr} {{\n  next_on_nodata\n }}\n forward . {good.addr}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        assert a(srv) == "192.0.2.7"
    # next is ignored when the plugin after is not a forward (CoreDNS's rule)
    with testing.serve(f".:0 {{\n forward . {nx.addr} {{\n  next NXDOMAIN\n }}\n whoami\n}}\n", tmp_path) as srv:
        assert a(srv) == "NXDOMAIN"


def test_failover_moves_on_for_listed_rcodes(tmp_path, ups):
    bad, good = ups("rcode", rcode=dns.rcode.SERVFAIL), ups(address="192.0.2.8")
    base = f".:0 {{\n forward . {bad.addr} {good.addr} {{\n  policy sequential\nOPTS }}\n}}\n"
    with testing.serve(base.replace("OPTS", "  failover SERVFAIL REFUSED\n"), tmp_path) as srv:
        assert a(srv) == "192.0.2.8"
    with testing.serve(base.replace("OPTS", ""), tmp_path) as srv:
        assert a(srv) == "SERVFAIL" and len(good.seen) == 1  # a SERVFAIL answer is an answer without failover
    other = ups("rcode", rcode=dns.rcode.REFUSED)
    text = f".:0 {{\n forward . {bad.addr} {other.addr} {{\n  policy sequential\n  failover SERVFAIL REFUSED\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        r = srv.query("www.example.org.", "A")
        # every upstream tried (twice: max_connect_attempts): the last answer is returned
        assert r.rcode() == dns.rcode.REFUSED and r.flags & dns.flags.QR


@pytest.mark.parametrize("cap, tries", [(None, 4), (1, 1), (3, 3)])
def test_max_connect_attempts(tmp_path, ups, cap, tries):
    """Silent upstreams: tries per query are capped (default twice the upstreams), then SERVFAIL."""
    one, two = ups("slow", delay=None), ups("slow", delay=None)
    opt = f"  max_connect_attempts {cap}\n" if cap is not None else ""
    text = (f".:0 {{\n forward . {one.addr} {two.addr} {{\n  read_timeout 200ms\n  max_fails 0\n"
            f"  policy round_robin\n{opt} }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        assert a(srv, timeout=8) == "SERVFAIL"
        # answered, and nothing out any more: no try can come after the ones counted
        assert eventually(lambda: metric(srv, "skydns_forward_inflight") == 0)
        assert metric(srv, "skydns_forward_requests_total") == tries
        assert eventually(lambda: len(one.seen) + len(two.seen) == tries)


def test_failfast_all_unhealthy_upstreams(tmp_path):
    """Once every upstream is marked down, queries get SERVFAIL at once instead of trying one."""
    port = closed_port()
    text = (f".:0 {{\n forward . 127.0.0.1:{port} {{\n  max_fails 1\n  health_check 30s\n"
            "  failfast_all_unhealthy_upstreams\n }\n}\n")
    with testing.serve(text, tmp_path) as srv:
        assert a(srv) == "SERVFAIL"
        assert eventually(lambda: metric(srv, "skydns_forward_healthy") == 0)
        sent = metric(srv, "skydns_forward_requests_total")
        start = time.monotonic()
        assert a(srv) == "SERVFAIL" and time.monotonic() - start < 0.5
        assert metric(srv, "skydns_forward_requests_total") == sent  # not tried


def test_read_timeout_and_its_alias_timeout(tmp_path, ups):
    slow = ups("slow", delay=0.5)
    for prop in ("read_timeout", "timeout"):
        text = f".:0 {{\n forward . {slow.addr} {{\n  {prop} 200ms\n  max_connect_attempts 1\n }}\n}}\n"
        with testing.serve(text, tmp_path) as srv:
            start = time.monotonic()
            assert a(srv) == "SERVFAIL" and time.monotonic() - start < 0.45
    with testing.serve(f".:0 {{\n forward . {slow.addr} {{\n  read_timeout 2s\n }}\n}}\n", tmp_path) as srv:
        assert a(srv) == "192.0.2.1"


@pytest.mark.parametrize("expire", ["", "  expire 10s\n"])
def test_source_address(tmp_path, ups, expire):
    """Queries (UDP and TCP, fresh or shared sockets) and health checks leave from source_address."""
    up = ups()
    text = f".:0 {{\n forward . {up.addr} {{\n  source_address 127.0.0.2\n{expire} }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        assert a(srv) == "192.0.2.1" and a(srv, tcp=True) == "192.0.2.1"
        assert up.sources == {("udp", "127.0.0.2"), ("tcp", "127.0.0.2")}


def test_tcp_connections_are_kept_by_default(tmp_path, ups):
    """TCP queries share a kept connection per upstream (not spoofable: no reason for one per query);
    UDP queries go out from short-lived sockets on random ports (16 queries each at most) unless expire is set."""
    up = ups()
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n  force_tcp\n }}\n}}\n", tmp_path) as srv:
        for _ in range(10):
            assert a(srv) == "192.0.2.1"
        assert up.accepted == 1
    up2 = ups()
    with testing.serve(f".:0 {{\n forward . {up2.addr}\n}}\n", tmp_path) as srv:
        for _ in range(10):
            assert a(srv) == "192.0.2.1"
        ports = [p for _, p, _ in up2.seen]
        assert len(set(ports)) >= 4 and max(ports.count(p) for p in ports) <= 16


def test_an_answer_on_a_replaced_socket_is_still_read(tmp_path, ups):
    """A query out on the shared socket when max_age replaces it: its answer arrives on the old socket, which is
    still read (it was not, when removing the pool's reader also unregistered the drainer's descriptor)."""
    up = ups("late", delay=0.6)
    text = f".:0 {{\n forward . {up.addr} {{\n  expire 10s\n  max_age 200ms\n  read_timeout 5s\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv, concurrent.futures.ThreadPoolExecutor(1) as ex:
        start = time.monotonic()
        first = ex.submit(a, srv, "first.example.", timeout=8)
        assert eventually(lambda: len(up.seen) == 1)  # out on the first socket
        time.sleep(0.25)  # older than max_age: the next query replaces the socket
        assert a(srv, "second.example.", timeout=8) == "192.0.2.1"
        assert first.result() == "192.0.2.1"
        assert time.monotonic() - start < 2.5  # answered on the old socket, not after a read timeout
        assert len({p for _, p, _ in up.seen}) == 2 and len(up.seen) == 2  # two sockets, no retry


def test_max_age_replaces_shared_sockets(tmp_path, ups):
    """With expire, the shared UDP socket (and TCP connection) is replaced once max_age old: a new
    random source port, while answers to queries sent on the old one are still taken."""
    up = ups("late", delay=0.15)
    text = f".:0 {{\n forward . {up.addr} {{\n  expire 10s\n  max_age 300ms\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            answers = list(ex.map(lambda i: a(srv, f"n{i}.example."), range(40)))
        assert answers == ["192.0.2.1"] * 40  # nothing lost when a socket is replaced under load
        elapsed = time.monotonic() - start
        ports = {p for _, p, _ in up.seen}
        opened = metric(srv, "skydns_forward_connections_opened_total", proto="udp")
        assert opened >= 2 and len(ports) == opened, (opened, len(ports), elapsed)
    up2 = ups()
    text = f".:0 {{\n forward . {up2.addr} {{\n  force_tcp\n  max_age 200ms\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        assert a(srv) == "192.0.2.1"
        assert up2.accepted == 1
        # once the connection is 200 ms old, the next query opens another
        assert eventually(lambda: a(srv) == "192.0.2.1" and up2.accepted == 2, interval=0.05)


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path)


def test_dot_upstream_with_per_upstream_server_name(tmp_path, ups, pki):
    """tls://IP%NAME:PORT: the name the upstream's certificate is checked for, per upstream."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["server"], pki["server_key"])
    up = ups(address="10.0.0.53", tls=ctx)
    text = f".:0 {{\n forward . tls://127.0.0.1%localhost:{up.port} {{\n  tls {pki['ca']}\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        assert a(srv) == "10.0.0.53" and up.seen[-1][0] == "tls"
    text = text.replace("%localhost", "%wrong.example")
    with testing.serve(text, tmp_path) as srv:
        assert a(srv, timeout=8) == "SERVFAIL"


def doh_upstream(tmp_path, pki):
    port = testing.free_port()
    (tmp_path / "up").mkdir(exist_ok=True)
    return port, testing.serve(f"https://.:{port} {{\n tls {pki['server']} {pki['server_key']}\n whoami\n}}\n",
                               tmp_path / "up")


def srv_labels(r):
    return [rr.name.to_text().split(".")[0] for rr in r.additional if rr.rdtype == 33]


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_doh_upstream(tmp_path, pki, method):
    """https:// upstreams: DNS over HTTPS (RFC 8484), the certificate checked, connections kept."""
    port, upstream = doh_upstream(tmp_path, pki)
    text = (f".:0 {{\n forward . https://127.0.0.1:{port} {{\n  tls {pki['ca']}\n  tls_servername localhost\n"
            f"  doh_method {method}\n }}\n}}\n")
    with upstream as up, testing.serve(text, tmp_path) as srv:
        for _ in range(5):
            r = srv.query("www.example.org.", "A")
            assert r.rcode() == 0 and srv_labels(r) == ["_https"]  # whoami behind DoH says so
        factory = next(v for v in up.service.listeners.values() if v.transport == "https").factory
        assert factory.evicted == 0 and len(factory.connections) == 1  # one kept connection for 5 queries


def test_doh_upstream_name_and_failures(tmp_path, pki, ups):
    """https://IP%NAME:PORT/PATH; a wrong name or path fails over to the next upstream."""
    port, upstream = doh_upstream(tmp_path, pki)
    good = ups(address="192.0.2.44")
    text = (f".:0 {{\n forward . https://127.0.0.1%localhost:{port}/dns-query {{\n  tls {pki['ca']}\n }}\n}}\n")
    with upstream, testing.serve(text, tmp_path) as srv:
        assert srv_labels(srv.query("www.example.org.", "A")) == ["_https"]
    for bad in ("https://127.0.0.1%wrong.example:{port}", "https://127.0.0.1%localhost:{port}/nope"):
        port, upstream = doh_upstream(tmp_path, pki)
        bad = bad.format(port=port)
        text = f".:0 {{\n forward . {bad} {good.addr} {{\n  tls {pki['ca']}\n  policy sequential\n }}\n}}\n"
        with upstream, testing.serve(text, tmp_path) as srv:
            assert a(srv, timeout=8) == "192.0.2.44", bad


def test_doh_max_idle_conns(tmp_path, pki):
    """max_idle_conns caps the HTTPS connections kept idle per upstream."""
    port, upstream = doh_upstream(tmp_path, pki)
    text = (f".:0 {{\n forward . https://127.0.0.1%localhost:{port} {{\n  tls {pki['ca']}\n"
            "  max_idle_conns 1\n }\n}\n")
    with upstream as up, testing.serve(text, tmp_path) as srv:
        with concurrent.futures.ThreadPoolExecutor(6) as ex:
            assert all(r.rcode() == 0 for r in ex.map(lambda i: srv.query(f"n{i}.example.", "A"), range(30)))
        factory = next(v for v in up.service.listeners.values() if v.transport == "https").factory
        assert eventually(lambda: len(factory.connections) <= 1), len(factory.connections)
