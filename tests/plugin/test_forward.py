"""forward: real upstream servers on loopback (healthy, slow, garbage, truncating), every option."""
import concurrent.futures
import os
import time

import dns.flags
import dns.rcode
import pytest

from helpers import closed_port, eventually, fakeplugins, metric
from skydns import testing


def a(srv, name="www.example.org.", **kw):
    r = srv.query(name, "A", **kw)
    return r.answer[0][0].address if r.answer else dns.rcode.to_text(r.rcode())


def test_forwards_with_new_id_and_source_port(tmp_path, ups):
    """Answers are relayed with the client's ID; upstream sees fresh random IDs, from sockets on random ports
    that each carry a few queries only (PortPool: 32 sockets, 16 queries each)."""
    up = ups()
    with testing.serve(f".:0 {{\n forward . {up.addr}\n}}\n", tmp_path) as srv:
        for _ in range(40):
            q = dns.message.make_query("www.Example.org.", "A", use_edns=0)
            r = srv.send(q)
            assert r.id == q.id and r.answer[0][0].address == "192.0.2.1"
            assert r.question[0].name.to_text() == "www.Example.org."
        ids = {q.id for _, _, q in up.seen}
        ports = [p for _, p, _ in up.seen]
        assert len(ids) >= 38 and len(set(ports)) >= 15  # 40 random picks of 32 sockets: about 23 ports
        assert max(ports.count(p) for p in ports) <= 16  # no port carries more than its 16 queries
        assert all(q.edns == 0 for _, _, q in up.seen)  # the client's OPT went along


def pool(srv, proto="udp", to=None) -> dict:
    """The shared socket or connection of an upstream (``to``: ``dns://HOST:PORT``, or the only one), as the
    forward metrics tell it."""
    if to is None:
        (to,) = {dict(labels)["to"] for (name, *labels) in srv.metrics()
                 if name == "skydns_forward_connections_opened_total" and dict(labels)["proto"] == proto}
    return {key: int(metric(srv, f"skydns_forward_{name}", to=to, proto=proto)) for key, name in
            (("opened", "connections_opened_total"), ("open", "connections_open"), ("pending", "pending"))}


def test_expire_reuses_one_udp_socket(tmp_path, ups):
    """With expire, queries to an upstream share one socket (one source port) with fresh IDs; the
    socket is closed once idle longer than expire; without expire every query has its own port (above)."""
    up = ups()
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n  expire 400ms\n }}\n}}\n", tmp_path) as srv:
        for _ in range(20):
            q = dns.message.make_query("www.Example.org.", "A")
            r = srv.send(q)
            assert r.id == q.id and r.answer[0][0].address == "192.0.2.1"
        assert pool(srv) == {"opened": 1, "open": 1, "pending": 0}
        assert len({p for _, p, _ in up.seen}) == 1 and len({q.id for _, _, q in up.seen}) >= 18
        assert eventually(lambda: pool(srv)["open"] == 0, timeout=3)  # idle for 400 ms: closed
        assert a(srv) == "192.0.2.1" and pool(srv)["opened"] == 2


def test_expire_concurrent_queries_get_their_own_answers(tmp_path, ups):
    """Queries in flight at once share the socket, each with its own ID, and get the answer to their
    own question."""
    up = ups("slow", delay=0.05)
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n  expire 10s\n }}\n}}\n", tmp_path) as srv:
        for _ in range(2):
            with concurrent.futures.ThreadPoolExecutor(8) as ex:
                names = [f"n{i}.example." for i in range(8)]
                replies = list(ex.map(lambda n: srv.query(n, "TXT"), names))
            assert [r.answer[0].name.to_text() for r in replies] == names
        assert pool(srv)["opened"] == 1 and pool(srv)["pending"] == 0
        ids = [q.id for _, _, q in up.seen]
        assert len(set(ids)) == len(ids) == 16


def test_expire_answers_with_wrong_id_or_question_are_dropped(tmp_path, ups):
    """On the shared socket as on fresh ones: garbage, a wrong ID, a wrong question are not taken."""
    garbage, good = ups("garbage"), ups(address="10.0.0.2")
    text = (f".:0 {{\n forward . {garbage.addr} {good.addr} {{\n  expire 10s\n  policy sequential\n"
            "  timeout 200ms\n  max_fails 0\n }\n}\n")
    with testing.serve(text, tmp_path) as srv:
        assert a(srv) == "10.0.0.2"
        assert pool(srv, to=f"dns://{garbage.addr}")["pending"] == 0


def test_expire_socket_with_an_error_is_not_reused(tmp_path, ups):
    """A port unreachable error closes the shared socket (failing its queries); the next query
    opens a new one."""
    port = closed_port()
    backup = ups(address="10.0.0.2")
    text = (f".:0 {{\n forward . 127.0.0.1:{port} {backup.addr} {{\n  expire 10s\n  policy sequential\n"
            "  max_fails 0\n }\n}\n")
    with testing.serve(text, tmp_path) as srv:
        start = time.monotonic()
        assert a(srv) == "10.0.0.2" and a(srv) == "10.0.0.2"
        assert time.monotonic() - start < 1.5  # refused at once, not timed out
        closed = f"dns://127.0.0.1:{port}"
        assert pool(srv, to=closed)["opened"] == 2 and pool(srv, to=closed)["open"] == 0


def test_policies(tmp_path, ups):
    """sequential always asks the first; round_robin alternates; random spreads."""
    one, two = ups(address="10.0.0.1"), ups(address="10.0.0.2")
    for policy, check in (
        ("sequential", lambda got: set(got) == {"10.0.0.1"}),
        ("round_robin", lambda got: got[:4] in (["10.0.0.1", "10.0.0.2"] * 2, ["10.0.0.2", "10.0.0.1"] * 2)),
        ("random", lambda got: 10 <= got.count("10.0.0.1") <= 50),
    ):
        text = f".:0 {{\n forward . {one.addr} {two.addr} {{\n  policy {policy}\n }}\n}}\n"
        with testing.serve(text, tmp_path) as srv:
            got = [a(srv) for _ in range(60)]
            assert check(got), (policy, got)


def test_failover_and_servfail_timing(tmp_path, ups):
    """A dead or slow upstream moves to the next; with all failing, SERVFAIL comes in bounded time."""
    slow, good = ups("slow", delay=None), ups(address="10.0.0.9")
    dead = f"127.0.0.1:{closed_port()}"
    text = (f".:0 {{\n forward . {dead} {slow.addr} {good.addr} {{\n  policy sequential\n"
            "  timeout 300ms\n  max_fails 0\n }\n}\n")
    with testing.serve(text, tmp_path) as srv:
        start = time.monotonic()
        assert a(srv) == "10.0.0.9"
        assert time.monotonic() - start < 1.5
    text = f".:0 {{\n forward . {dead} {slow.addr} {{\n  timeout 300ms\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        start = time.monotonic()
        assert a(srv, timeout=6) == "SERVFAIL"
        assert time.monotonic() - start < 1.5


def test_deadline_bounds_the_whole_query():
    """However many silent upstreams, the client has SERVFAIL at the 5 s deadline: each try gets the
    timeout or what is left of the deadline (a fake clock; real timeouts are in the tests around)."""
    from twisted.internet import defer, task

    from skydns.clients.dnsclient import Timeout
    from skydns.clients.nameservers import Health
    from skydns.clients.nameservers import Nameserver as Target
    from skydns.plugin.forward.forward import Forward
    from skydns.plugin.forward.setup import ForwardConfig
    from skydns.query.request import Request

    clock = task.Clock()
    asked = []

    class Silent:
        def query(self, wire, host, port, proto, timeout, tls=None, pool=None, source=None):
            asked.append((host, timeout))
            d = defer.Deferred()
            clock.callLater(timeout, lambda: d.called or d.errback(Timeout("no answer")))
            return d

    cfg = ForwardConfig(upstreams=[Target(f"192.0.2.{i}", 53) for i in range(4)], timeout=2.0, max_fails=0,
                        policy="sequential")
    forward = Forward(cfg, Silent(), Health(Silent(), clock, 0, 0), clock)
    got = []
    request = Request(dns.message.make_query("www.example.org.", "A").to_wire(), ("127.0.0.1", 5353), "udp")
    forward.serve(request).addCallback(got.append)
    clock.pump([0.25] * 19)  # time passes in steps, as it does
    assert got == []
    clock.advance(0.25)
    assert [r[3] & 0x0F for r in got] == [dns.rcode.SERVFAIL]
    assert asked == [("192.0.2.0", 2.0), ("192.0.2.1", 2.0), ("192.0.2.2", 1.0)]


@pytest.mark.parametrize("expire", ["", " {\n  expire 10s\n }"])
def test_truncated_udp_retried_over_tcp(tmp_path, ups, expire):
    """A truncated UDP answer is asked again over TCP (on the kept connection with expire);
    a TCP client gets it whole."""
    up = ups("truncate")
    with testing.serve(f".:0 {{\n forward . {up.addr}{expire}\n}}\n", tmp_path) as srv:
        r = srv.query("big.example.", "TXT", tcp=True)
        assert len(r.answer[0]) == 30
        r = srv.query("big.example.", "TXT", use_edns=0, payload=4096)
        assert len(r.answer[0]) == 30 and not r.flags & dns.flags.TC
        assert [p for p, _, _ in up.seen][-2:] == ["udp", "tcp"]
        r = srv.query("big.example.", "TXT")  # 512 bytes: the server truncates for the client
        assert r.flags & dns.flags.TC
        if expire:
            assert up.accepted == 1  # every TCP query, the client's and the retries, on one connection


def test_garbage_wrong_id_wrong_question_are_dropped(tmp_path, ups):
    """Random bytes, a wrong ID and a wrong question are ignored; the query goes to the next upstream."""
    bad, good = ups("garbage"), ups(address="10.0.0.7")
    text = f".:0 {{\n forward . {bad.addr} {good.addr} {{\n  policy sequential\n  timeout 300ms\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        assert a(srv) == "10.0.0.7"
    text = f".:0 {{\n forward . {bad.addr} {{\n  timeout 300ms\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        assert a(srv) == "SERVFAIL"


def test_health_check_marks_down_and_recovers(tmp_path, ups):
    """After max_fails an upstream is down and skipped; health checks bring it back when it answers."""
    silent = ups(mode="slow", address="10.0.0.1")  # holds its port and answers nothing until switched on
    backup = ups(address="10.0.0.2")
    text = (f".:0 {{\n forward . {silent.addr} {backup.addr} {{\n  policy sequential\n  max_fails 1\n"
            "  health_check 100ms\n  timeout 300ms\n }\n}\n")
    with testing.serve(text, tmp_path) as srv:
        first = f"dns://{silent.addr}"
        assert a(srv) == "10.0.0.2"
        assert metric(srv, "skydns_forward_healthy", to=first) == 0
        before = metric(srv, "skydns_forward_requests_total", to=first)
        assert a(srv) == "10.0.0.2"
        assert metric(srv, "skydns_forward_requests_total", to=first) == before  # skipped while down
        probes = len(silent.seen)
        silent.mode = "healthy"
        assert eventually(lambda: metric(srv, "skydns_forward_healthy", to=first) == 1, timeout=5)
        assert a(srv) == "10.0.0.1"
        assert any(q.question[0].rdtype == dns.rdatatype.NS for _, _, q in silent.seen[probes:])  # the probe


def test_except_and_from(tmp_path, ups):
    """Names outside FROM, or under except, go to the next plugin."""
    up = ups(address="10.0.0.1")
    text = f".:0 {{\n forward example.org {up.addr} {{\n  except internal.example.org\n }}\n answer 10.9.9.9\n}}\n"
    with testing.serve(text, tmp_path, fakeplugins.registry()) as srv:
        assert a(srv, "www.example.org.") == "10.0.0.1"
        assert a(srv, "a.internal.example.org.") == "10.9.9.9"
        assert a(srv, "www.example.net.") == "10.9.9.9"


def test_no_rec_and_ndots(tmp_path, ups):
    """SkyDNS's no_rec never forwards; ndots N forwards only names with at least N labels."""
    up = ups(address="10.0.0.1")
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n  no_rec\n }}\n}}\n", tmp_path) as srv:
        assert a(srv) == "SERVFAIL" and not up.seen
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n  ndots 3\n }}\n}}\n", tmp_path) as srv:
        assert a(srv, "example.org.") == "SERVFAIL"
        assert a(srv, "www.example.org.") == "10.0.0.1"


def test_force_tcp_and_prefer_udp(tmp_path, ups):
    up = ups()
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n  force_tcp\n }}\n}}\n", tmp_path) as srv:
        a(srv)
        assert up.seen[-1][0] == "tcp"
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n  prefer_udp\n }}\n}}\n", tmp_path) as srv:
        a(srv, tcp=True)
        assert up.seen[-1][0] == "udp"
    with testing.serve(f".:0 {{\n forward . {up.addr}\n}}\n", tmp_path) as srv:
        a(srv, tcp=True)
        assert up.seen[-1][0] == "tcp"  # by default, the client's transport


def test_max_concurrent(tmp_path, ups):
    """Above max_concurrent queries in flight, new ones get REFUSED at once."""
    import threading
    slow = ups("slow", delay=0.5)
    with testing.serve(f".:0 {{\n forward . {slow.addr} {{\n  max_concurrent 1\n }}\n}}\n", tmp_path) as srv:
        t = threading.Thread(target=lambda: a(srv, timeout=5))
        t.start()
        assert eventually(lambda: metric(srv, "skydns_forward_inflight") == 1)
        assert a(srv, "other.example.") == "REFUSED"
        t.join()


def test_resolv_conf_upstreams(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# test\nsearch example.org\nnameserver 127.0.0.1\n")
    text = f".:0 {{\n forward . {conf}\n}}\n"
    from skydns import config
    (tmp_path / "Corefile").write_text(text)
    cfg = config.load(str(tmp_path / "Corefile"))
    from skydns.plugin.forward.setup import Target
    assert cfg.blocks[0][1][0][2][0].targets == [Target("dns", "127.0.0.1", 53)]


def fd_count():
    return len(os.listdir("/proc/self/fd"))


def blast(port, count, timeout=10.0, rate=1000):
    """Send ``count`` queries at once from one socket (read by a thread meanwhile); the answers' rcodes."""
    import socket
    import threading
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    rcodes = {}

    def read():
        try:
            while len(rcodes) < count:
                m = dns.message.from_wire(s.recv(65535))
                rcodes[m.id] = m.rcode()
        except (TimeoutError, OSError):
            pass

    try:
        s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", socket.SO_RCVBUF), 4 << 20)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    reader = threading.Thread(target=read)
    reader.start()
    start = time.monotonic()
    for i in range(count):
        q = dns.message.make_query(f"n{i}.example.", "A")
        q.id = i
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        ahead = (i + 1) / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)  # at most ``rate`` queries a second: a burst, not a flood
    reader.join(timeout + 1)
    s.close()
    return rcodes


@pytest.mark.parametrize("expire,tcp", [(None, False), ("300ms", False), ("300ms", True)])
def test_no_leaks_after_1000_failing_queries(tmp_path, ups, expire, tcp):
    """Refused, garbage and timed-out upstreams: 1,000 failing queries leave no sockets or calls behind
    (with expire, once the shared sockets and connections have been idle that long)."""
    garbage = ups("garbage")
    slow = ups("slow", delay=None)
    dead = f"127.0.0.1:{closed_port()}"
    text = (f".:0 {{\n forward . {dead} {garbage.addr} {slow.addr} {{\n  timeout 100ms\n  max_fails 0\n"
            f"  policy sequential\n{f'  expire {expire}' if expire else ''}\n{'  force_tcp' if tcp else ''}\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        a(srv)
        assert eventually(lambda: metric(srv, "skydns_forward_inflight") == 0)  # the first query's tries are over
        before = fd_count()
        reactor = testing.reactor()
        calls_before = len(testing.call(reactor.getDelayedCalls))
        start = time.monotonic()
        rcodes = blast(srv.port, 1000)
        assert len(rcodes) == 1000 and set(rcodes.values()) == {dns.rcode.SERVFAIL}
        assert time.monotonic() - start < 8
        # Once the last timeouts have passed (and, with expire, the idle sockets were swept):
        assert eventually(lambda: fd_count() <= before + 2
                          and len(testing.call(reactor.getDelayedCalls)) <= calls_before + 2, timeout=5)


def test_bad_forward_config(tmp_path):
    from skydns import config
    from skydns.config.errors import CorefileError
    cases = {
        "forward .": "wrong argument count",
        "forward . notanip": "'notanip' is not an IP address",
        "forward . 1.2.3.4 {\n  policy fastest\n }": "unknown policy 'fastest'",
        "forward . 1.2.3.4 {\n  force_tcp\n  prefer_udp\n }": "mutually exclusive",
        "forward . grpc://1.2.3.4": "unsupported upstream scheme 'grpc://'",
        "forward . tls://1.2.3.4%:853": "empty server name",
        "forward . tls://1.2.3.4%a.example {\n  tls_servername b.example\n }": "mutually exclusive",
        "forward . 1.2.3.4 {\n  failover NOERROR\n }": "NOERROR cannot be used",
        "forward . 1.2.3.4 {\n  next NOPE\n }": "unknown RCODE 'NOPE'",
        "forward . 1.2.3.4 {\n  doh_method PUT\n }": "expected GET or POST",
        "forward . 1.2.3.4 {\n  source_address ::1\n }": "not of the same IP version",
        "forward . 1.2.3.4 {\n  source_address nowhere\n }": "is not an IP address",
        "forward . 1.2.3.4:99999": "a port must be between 1 and 65535",
        "forward . 1.2.3.4 {\n  bogus\n }": "unknown property 'bogus'",
    }
    for body, message in cases.items():
        (tmp_path / "Corefile").write_text(". {\n " + body + "\n}\n")
        with pytest.raises(CorefileError) as e:
            config.load(str(tmp_path / "Corefile"))
        assert message in str(e.value) and "Corefile:" in str(e.value), (body, str(e.value))


def tls_upstream(tmp_path, ups):
    """A DNS-over-TLS upstream with a certificate for localhost, and a Corefile forwarding to it."""
    import ssl

    from helpers import make_pki
    pki = make_pki(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki["server"], pki["server_key"])
    up = ups(address="10.0.0.53", tls=ctx)
    return up, f".:0 {{\n forward . tls://{up.addr} {{\n  tls {pki['ca']}\n  tls_servername localhost\n }}\n}}\n"


def test_tls_upstream(tmp_path, ups):
    """tls:// upstreams: DNS over TLS, the server's certificate checked against the given CA and name."""
    up, text = tls_upstream(tmp_path, ups)
    with testing.serve(text, tmp_path) as srv:
        assert a(srv) == "10.0.0.53"
        assert up.seen[-1][0] == "tls"
    # A name the certificate does not hold fails verification: SERVFAIL, not an answer.
    text = text.replace("tls_servername localhost", "tls_servername wrong.example")
    with testing.serve(text, tmp_path) as srv:
        assert a(srv, timeout=8) == "SERVFAIL"


def test_tls_connection_is_kept_and_shared(tmp_path, ups):
    """DNS over TLS keeps its connection: many queries, several at once, one handshake."""
    up, text = tls_upstream(tmp_path, ups)
    with testing.serve(text, tmp_path) as srv:
        for _ in range(5):
            assert a(srv) == "10.0.0.53"
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            names = [f"n{i}.example." for i in range(16)]
            replies = list(ex.map(lambda n: srv.query(n, "TXT"), names))
        assert [r.answer[0].name.to_text() for r in replies] == names
        assert pool(srv, "tls")["opened"] == 1 and up.accepted == 1 and pool(srv, "tls")["pending"] == 0


def test_expire_keeps_tcp_connections(tmp_path, ups):
    """With expire, TCP queries share one connection until it is idle that long; a refused
    connection fails over to the next upstream at once."""
    up = ups(address="10.0.0.7")
    dead = f"127.0.0.1:{closed_port()}"
    text = (f".:0 {{\n forward . {dead} {up.addr} {{\n  force_tcp\n  expire 400ms\n  policy sequential\n"
            "  max_fails 0\n }\n}\n")
    with testing.serve(text, tmp_path) as srv:
        live, gone = f"dns://{up.addr}", f"dns://{dead}"
        start = time.monotonic()
        for _ in range(10):
            assert a(srv) == "10.0.0.7"
        assert time.monotonic() - start < 3
        assert pool(srv, "tcp", live)["opened"] == 1 and up.accepted == 1 and pool(srv, "tcp", gone)["opened"] == 10
        assert all(p == "tcp" for p, _, _ in up.seen)
        assert eventually(lambda: pool(srv, "tcp", live)["open"] == 0, timeout=3)  # idle 400 ms: closed
        assert a(srv) == "10.0.0.7" and pool(srv, "tcp", live)["opened"] == 2 and up.accepted == 2


def test_external_cname_answered_by_forward(tmp_path, ups, data):
    """etcd's external CNAME target is resolved through the server: forward answers it (seed: www.miek.nl)."""
    up = ups(address="176.58.119.54")
    data.put("1.rails.production.east.skydns.local", {"host": "www.miek.nl", "port": 8080})
    text = data.block() + f".:0 {{\n forward . {up.addr}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        r = srv.query("1.rails.production.east.skydns.local.", "A")
        assert [rr.to_text() for rr in r.answer] == [  # the answer's smallest TTL on both (SkyDNS's rule)
            "1.rails.production.east.skydns.local. 60 IN CNAME www.miek.nl.",
            "www.miek.nl. 60 IN A 176.58.119.54"]
        assert [q.question[0].name.to_text() for _, _, q in up.seen] == ["www.miek.nl."]


@pytest.mark.integration
def test_a_silent_upstream_cannot_take_the_descriptors_other_zones_need(tmp_path, ups):
    """Under ulimit -n 256, a zone whose upstream never answers is flooded (1,000 q/s, 2 s timeouts):
    its queries beyond the plugin's share of descriptors are REFUSED at once, and a healthy zone's
    queries are all answered meanwhile; nothing runs out of file descriptors."""
    import resource
    import subprocess
    import threading

    from helpers import BIN, blast_udp, bound_udp, env

    silent, healthy = ups("slow", delay=None), ups(address="192.0.2.7")
    port = testing.free_port("::")
    corefile = tmp_path / "Corefile"
    corefile.write_text(f"silent.test:{port} {{\n forward . {silent.addr} {{\n  max_fails 0\n }}\n}}\n"
                        f".:{port} {{\n forward . {healthy.addr}\n}}\n")
    log = tmp_path / "skydns.log"

    def low_limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    proc = subprocess.Popen([os.path.join(BIN, "twistd"), "-n", "--pidfile=", f"--logfile={log}", "skydns",
                             "-c", str(corefile)], cwd=tmp_path, env=env(), preexec_fn=low_limit,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert eventually(lambda: bound_udp(proc.pid, port), timeout=20)
        healthy_rcodes = []
        flooding = threading.Event()
        flooding.set()

        def ask_healthy():  # one query after another for as long as the flood lasts
            i = 0
            while flooding.is_set():
                q = dns.message.make_query(f"h{i}.example.org.", "A")
                healthy_rcodes.append(dns.query.udp(q, "127.0.0.1", port=port, timeout=3).rcode())
                i += 1

        asker = threading.Thread(target=ask_healthy)
        asker.start()
        try:
            flood = blast_udp(port, [f"s{i}.silent.test." for i in range(50)], rate=1000, seconds=2)
        finally:
            flooding.clear()
            asker.join(30)
        assert len(healthy_rcodes) >= 20 and set(healthy_rcodes) == {dns.rcode.NOERROR}, healthy_rcodes
        assert flood[dns.rcode.REFUSED] > 500, flood  # over its share: refused at once
        assert "Too many open files" not in log.read_text()
    finally:
        proc.terminate()
        proc.wait(10)
