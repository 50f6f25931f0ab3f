"""The server over real loopback sockets, queried with dnspython."""
import select
import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from helpers import eventually, fakeplugins
from skydns import testing


@pytest.fixture
def reg():
    return fakeplugins.registry()


def whoami_port(reply):
    srv = [r for r in reply.additional if r.rdtype == dns.rdatatype.SRV][0]
    return srv[0].port


def test_udp_and_tcp_over_ipv4(tmp_path):
    """whoami answers over UDP and TCP with the client's address, port and transport."""
    with testing.serve(".:0 {\n whoami\n}\n", tmp_path) as srv:
        for tcp in (False, True):
            my_port = testing.free_port()
            q = dns.message.make_query("Example.ORG.", "A")
            if tcp:
                r = dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=3, source_port=my_port)
            else:
                r = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=3, source_port=my_port)
            assert r.rcode() == dns.rcode.NOERROR
            assert r.flags & dns.flags.AA
            assert not r.answer
            lines = testing.rrsets(r, "additional")
            proto = "_tcp" if tcp else "_udp"
            assert lines == sorted([
                "Example.ORG. 0 IN A 127.0.0.1",
                f"{proto}.Example.ORG. 0 IN SRV 0 0 {my_port} .",
            ])


def test_ipv6_udp_and_tcp(tmp_path):
    """The default listener is dual-stack: IPv6 clients get AAAA, IPv4 clients plain A."""
    with testing.serve(".:0 {\n whoami\n}\n", tmp_path) as srv:
        for tcp in (False, True):
            r = srv.query("example.org.", "A", tcp=tcp, host="::1")
            assert [x.rdtype for x in r.additional] == [dns.rdatatype.AAAA, dns.rdatatype.SRV]
            assert r.additional[0][0].address == "::1"
        r = srv.query("example.org.", "A", host="127.0.0.1")
        assert r.additional[0][0].address == "127.0.0.1"


def test_bind_ipv6_only(tmp_path):
    """With bind ::1 the server answers on ::1 and not on 127.0.0.1."""
    with testing.serve(".:0 {\n bind ::1\n whoami\n}\n", tmp_path) as srv:
        assert srv.query("a.", "A", host="::1").additional[0][0].address == "::1"
        with pytest.raises(dns.exception.Timeout):
            srv.query("a.", "A", host="127.0.0.1", timeout=0.3)


def test_pipelined_tcp(tmp_path, reg):
    """Several queries written at once on one TCP connection all get their answers."""
    with testing.serve(".:0 {\n whoami\n}\n", tmp_path, reg) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port))
        ids = list(range(1000, 1020))
        payload = b""
        for i in ids:
            q = dns.message.make_query(f"n{i}.example.", "A")
            q.id = i
            w = q.to_wire()
            payload += struct.pack("!H", len(w)) + w
        s.sendall(payload)
        got = {}
        buf = b""
        s.settimeout(3)
        while len(got) < len(ids):
            buf += s.recv(65535)
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                m = dns.message.from_wire(buf[2:2 + n])
                got[m.id] = m.question[0].name.to_text()
                buf = buf[2 + n:]
        s.close()
        assert got == {i: f"n{i}.example." for i in ids}


def test_truncation_udp_and_full_tcp(tmp_path, reg):
    """An answer bigger than the client's payload size is truncated with TC over UDP, complete over TCP."""
    with testing.serve(".:0 {\n big 30\n}\n", tmp_path, reg) as srv:
        r = srv.query("big.example.", "TXT")  # no EDNS: 512 bytes
        assert r.flags & dns.flags.TC
        assert len(r.to_wire()) <= 512
        r = srv.query("big.example.", "TXT", use_edns=0, payload=1400)
        assert r.flags & dns.flags.TC
        assert r.edns == 0  # the OPT record survives truncation
        r = srv.query("big.example.", "TXT", tcp=True)
        assert not r.flags & dns.flags.TC
        assert len(r.answer[0]) == 30
        r = srv.query("big.example.", "TXT", use_edns=0, payload=8000)
        assert not r.flags & dns.flags.TC and len(r.answer[0]) == 30


def test_payload_below_512_means_512(tmp_path, reg):
    """A client advertising less than 512 bytes still gets up to 512."""
    with testing.serve(".:0 {\n big 4\n}\n", tmp_path, reg) as srv:
        r = srv.query("big.example.", "TXT", use_edns=0, payload=100)
        assert not r.flags & dns.flags.TC and len(r.answer[0]) == 4


def test_edns_echoed(tmp_path):
    """A query with EDNS gets an OPT record back with our payload size and DO echoed; without, none."""
    with testing.serve(".:0 {\n whoami\n}\n", tmp_path) as srv:
        r = srv.query("example.", "A", use_edns=0, want_dnssec=True)
        assert r.edns == 0 and r.payload == 1232 and r.ednsflags & dns.flags.DO
        r = srv.query("example.", "A", use_edns=0)
        assert r.edns == 0 and not r.ednsflags & dns.flags.DO
        r = srv.query("example.", "A")
        assert r.edns == -1


def test_badvers(tmp_path):
    """An EDNS version above 0 gets BADVERS."""
    with testing.serve(".:0 {\n whoami\n}\n", tmp_path) as srv:
        r = srv.query("example.", "A", use_edns=1)
        assert r.rcode() == dns.rcode.BADVERS


def test_notimp_for_other_opcodes(tmp_path):
    """NOTIFY and UPDATE are not implemented."""
    with testing.serve(".:0 {\n whoami\n}\n", tmp_path) as srv:
        q = dns.message.make_query("example.", "SOA")
        q.set_opcode(dns.opcode.NOTIFY)
        assert srv.send(q).rcode() == dns.rcode.NOTIMP


def raw_udp(port, data, timeout=1.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(data, ("127.0.0.1", port))
    try:
        return s.recv(65535)
    except TimeoutError:
        return None
    finally:
        s.close()


def test_garbage_gets_formerr_or_nothing(tmp_path):
    """Over a real socket: malformed queries get FORMERR when the header is readable, nothing otherwise;
    the server goes on. (test_server_handle.py sends thousands of random packets straight to the server.)"""
    with testing.serve(".:0 {\n whoami\n}\n", tmp_path) as srv:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(100):
                s.sendto(b"\x01\x02\x03", ("127.0.0.1", srv.port))  # not even a header
        # A header claiming one question, with a truncated name.
        reply = raw_udp(srv.port, b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05abc")
        m = dns.message.from_wire(reply)
        assert m.id == 0xABCD and m.rcode() == dns.rcode.FORMERR
        # Two questions.
        q = dns.message.make_query("a.example.", "A")
        q.question.append(dns.message.make_query("b.example.", "A").question[0])
        m = dns.message.from_wire(raw_udp(srv.port, q.to_wire()))
        assert m.rcode() == dns.rcode.FORMERR
        # A response (QR set) is never answered.
        resp = dns.message.make_response(dns.message.make_query("a.example.", "A"))
        assert raw_udp(srv.port, resp.to_wire(), timeout=0.2) is None
        assert srv.query("ok.example.", "A").rcode() == dns.rcode.NOERROR


def test_garbage_over_tcp(tmp_path):
    """A TCP frame that is not a query gets FORMERR; one too short to be DNS closes the connection."""
    with testing.serve(".:0 {\n whoami\n}\n", tmp_path) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port))
        bad = b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff"
        s.sendall(struct.pack("!H", len(bad)) + bad)
        s.settimeout(2)
        data = s.recv(1000)
        m = dns.message.from_wire(data[2:])
        assert m.id == 7 and m.rcode() == dns.rcode.FORMERR
        s.sendall(b"\x00\x03abc")
        assert s.recv(100) == b""  # closed
        s.close()


def test_refused_outside_zones(tmp_path):
    """Names no server block serves get REFUSED."""
    with testing.serve("example.org:0 {\n whoami\n}\n", tmp_path) as srv:
        assert srv.query("www.example.org.", "A").rcode() == dns.rcode.NOERROR
        r = srv.query("example.net.", "A", use_edns=0)
        assert r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.AA
        assert r.question[0].name.to_text() == "example.net." and r.edns == 0
        assert srv.query("notexample.org.", "A").rcode() == dns.rcode.REFUSED


def test_most_specific_zone_wins(tmp_path, reg):
    """Several blocks on one port: the block with the most specific zone answers."""
    text = (
        ".:0 {\n answer 10.0.0.1\n}\n"
        "example.org:0 {\n answer 10.0.0.2\n}\n"
        "sub.example.org:0 {\n answer 10.0.0.3\n}\n"
    )
    # Port 0 would give each block its own port: use one fixed free port instead.
    port = testing.free_port()
    with testing.serve(text.replace(":0", f":{port}"), tmp_path, reg) as srv:
        def addr(name, qtype="A"):
            return srv.query(name, qtype, port=port).answer[0][0].address
        assert addr("www.example.com.") == "10.0.0.1"
        assert addr("example.org.") == "10.0.0.2"
        assert addr("a.b.example.org.") == "10.0.0.2"
        assert addr("sub.example.org.") == "10.0.0.3"
        assert addr("X.SUB.Example.Org.") == "10.0.0.3"
        assert addr("subexample.org.") == "10.0.0.1"
        # DS for a zone apex belongs to the parent zone.
        assert addr("sub.example.org.", "DS") == "10.0.0.2"
        assert addr("example.org.", "DS") == "10.0.0.1"


def test_raising_plugin_gives_servfail_and_server_goes_on(tmp_path, reg):
    """A plugin that raises produces SERVFAIL for that query; the next query is answered."""
    with testing.serve(".:0 {\n boom\n}\nexample.org:0 {\n whoami\n}\n", tmp_path, reg) as srv:
        # Both keys say port 0, so both blocks share one listener (on a free port).
        for _ in range(3):
            r = srv.query("x.example.com.", "A")
            assert r.rcode() == dns.rcode.SERVFAIL
            assert r.question[0].name.to_text() == "x.example.com."
            assert srv.query("example.org.", "A").rcode() == dns.rcode.NOERROR


def test_no_next_plugin_is_servfail(tmp_path, reg):
    """A plugin that passes on with nothing after it: SERVFAIL."""
    with testing.serve(".:0 {\n passon\n}\n", tmp_path, reg) as srv:
        assert srv.query("a.", "A").rcode() == dns.rcode.SERVFAIL


def test_wrong_answer_type_is_servfail(tmp_path, reg):
    """A plugin that returns something that is not a reply: SERVFAIL."""
    with testing.serve(".:0 {\n wrong\n}\n", tmp_path, reg) as srv:
        assert srv.query("a.", "A").rcode() == dns.rcode.SERVFAIL


def test_drop_sends_nothing(tmp_path, reg):
    """A plugin that returns None: the query is dropped."""
    with testing.serve(".:0 {\n drop\n}\n", tmp_path, reg) as srv:
        with pytest.raises(dns.exception.Timeout):
            srv.query("a.", "A", timeout=0.3)


def test_async_answers(tmp_path, reg):
    """A plugin answering with a Deferred: answered over UDP and TCP, out of order on one connection."""
    with testing.serve(".:0 {\n slow 0.2 10.1.1.1\n}\n", tmp_path, reg) as srv:
        assert srv.query("a.", "A").answer[0][0].address == "10.1.1.1"
        assert srv.query("a.", "A", tcp=True).answer[0][0].address == "10.1.1.1"


def test_tcp_idle_timeout(tmp_path):
    """An idle TCP connection is closed after the idle timeout."""
    with testing.serve(".:0 {\n timeouts {\n  idle 1s\n }\n whoami\n}\n", tmp_path) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.settimeout(5)
        start = time.monotonic()
        assert s.recv(10) == b""
        took = time.monotonic() - start
        assert 0.8 < took < 3
        s.close()


def tcp_query(sock, name="a.") -> None:
    q = dns.message.make_query(name, "A").to_wire()
    sock.sendall(struct.pack("!H", len(q)) + q)


def tcp_answered(sock) -> bool:
    sock.settimeout(2)
    head = sock.recv(2)
    return len(head) == 2 and len(sock.recv(struct.unpack("!H", head)[0])) > 12


def closed(sock, timeout=2.0) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(10) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_tcp_connection_cap_makes_room_for_new_clients(tmp_path):
    """At tcp { max_connections }, a new client takes the place of the connection idle longest:
    clients holding connections open cannot lock others out; busy ones are kept."""
    with testing.serve(".:0 {\n tcp {\n  max_connections 2\n }\n whoami\n}\n", tmp_path) as srv:
        factory = next(iter(srv.service.listeners.values())).tcp.factory
        a = socket.create_connection(("127.0.0.1", srv.port))
        assert eventually(lambda: len(factory.connections) == 1)
        b = socket.create_connection(("127.0.0.1", srv.port))
        assert eventually(lambda: len(factory.connections) == 2)
        tcp_query(b)
        assert tcp_answered(b)  # b was active after a: a is the one idle longest
        c = socket.create_connection(("127.0.0.1", srv.port))
        assert closed(a)
        tcp_query(c)
        assert tcp_answered(c)
        tcp_query(b)
        assert tcp_answered(b)
        for s in (a, b, c):
            s.close()
        assert eventually(lambda: len(factory.connections) == 0)
        assert srv.query("a.", "A", tcp=True).rcode() == dns.rcode.NOERROR


def test_tcp_connection_cap_makes_room_even_when_every_connection_drips(tmp_path):
    """With every connection in the middle of a query (dripping it), a new client still gets in: it
    takes the place of the one that has gone longest without a whole query."""
    text = ".:0 {\n tcp {\n  max_connections 2\n }\n timeouts {\n  read 30s\n }\n whoami\n}\n"
    with testing.serve(text, tmp_path) as srv:
        factory = next(iter(srv.service.listeners.values())).tcp.factory
        drips = []
        for n in (1, 2):  # one after the other: the first is the one dripping longest
            s = socket.create_connection(("127.0.0.1", srv.port))
            s.sendall(b"\x00\x20\x12")  # half a query
            assert eventually(lambda n=n: sum(1 for c in factory.connections if c.buffer) == n)
            drips.append(s)
        c = socket.create_connection(("127.0.0.1", srv.port))
        tcp_query(c)
        assert tcp_answered(c)
        assert closed(drips[0]) and not closed(drips[1], timeout=0.3)
        for s in drips + [c]:
            s.close()


def test_tcp_connection_cap_keeps_connections_whose_queries_are_being_answered(tmp_path):
    """At the cap, a connection waiting for its answer (a slow plugin) is kept, though older than an
    idle one: the client doing nothing makes room."""
    registry = fakeplugins.registry()
    text = ".:0 {\n tcp {\n  max_connections 2\n }\n slow 1 10.0.0.1\n}\n"
    with testing.serve(text, tmp_path, registry=registry) as srv:
        factory = next(iter(srv.service.listeners.values())).tcp.factory
        waiting = socket.create_connection(("127.0.0.1", srv.port))
        tcp_query(waiting)
        assert eventually(lambda: any(c.pending for c in factory.connections))
        idle = socket.create_connection(("127.0.0.1", srv.port))
        assert eventually(lambda: len(factory.connections) == 2)
        c = socket.create_connection(("127.0.0.1", srv.port))
        assert closed(idle)
        assert tcp_answered(waiting)
        for s in (waiting, idle, c):
            s.close()


def test_tcp_dripping_client_is_closed_by_the_read_deadline(tmp_path):
    """A client sending a length and then a byte now and then does not keep its connection: the query
    must arrive whole within 'read' of its first byte, whatever dribbles in."""
    text = ".:0 {\n timeouts {\n  read 1s\n  idle 30s\n }\n whoami\n}\n"
    with testing.serve(text, tmp_path) as srv:
        s = socket.create_connection(("127.0.0.1", srv.port))
        start = time.monotonic()
        s.sendall(b"\x00\x30")
        s.settimeout(0.3)
        gone = False
        while time.monotonic() - start < 5 and not gone:
            try:
                s.sendall(b"\x01")
                gone = s.recv(10) == b""
            except TimeoutError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                gone = True
        assert gone and 0.9 < time.monotonic() - start < 3
        s.close()


def test_tcp_client_that_never_reads_stops_being_read_and_is_closed(tmp_path):
    """A client that keeps sending queries and never reads: once its unread replies fill the buffers the
    server stops reading it (its memory stays bounded), and closes it after 'write'; a fresh client is
    answered meanwhile."""
    text = ".:0 {\n timeouts {\n  write 1s\n }\n whoami\n}\n"
    with testing.serve(text, tmp_path) as srv:
        factory = next(iter(srv.service.listeners.values())).tcp.factory
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        q = dns.message.make_query("flood.example.", "A").to_wire()
        frames = (struct.pack("!H", len(q)) + q) * 2000
        s.setblocking(False)
        start, reset, fresh = time.monotonic(), None, None
        while time.monotonic() - start < 10 and reset is None:
            try:
                s.send(frames)
            except BlockingIOError:
                select.select([], [s], [], 0.05)  # until the server reads again (or a moment passes)
            except (ConnectionResetError, BrokenPipeError):
                reset = time.monotonic() - start
            if fresh is None and any(c.paused for c in factory.connections):
                fresh = srv.query("fresh.example.", "A", tcp=True).rcode()
        assert fresh == dns.rcode.NOERROR
        assert reset is not None and reset < 8
        s.close()
