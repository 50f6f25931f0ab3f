"""forward's express lane (express.py): when a listener hands it its UDP packets, and that what it relays
ends as on the relay and the normal path (IDs, CD bit, case, forged and truncated answers, timeouts,
broken sockets, counts in flight, reloads)."""
import concurrent.futures
import errno
import socket
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

from helpers import eventually
from skydns import testing

EXPIRE = "  expire 10s\n"


def lanes(srv):
    """Per listener: the lane that server hands its UDP packets to, or None."""
    out = []
    for listener in srv.service.listeners.values():
        server = listener.server
        out.append(None if server.handle_udp == server.handle else server.handle_udp.__self__.lane)
    return out


def only_lane(srv):
    (lane,) = lanes(srv)
    assert lane is not None
    return lane


def counting_reads(srv, lane):
    """Count the reads of the shared socket the lane makes (it reads only while its queries are out)."""
    reads = []
    read = lane.read
    testing.call(lambda: setattr(lane, "read", lambda pool: (reads.append(1), read(pool))))
    return reads


def idle(srv, lane):
    """Nothing out on the lane: no ID taken, nothing counted in flight, the configuration not held."""
    return testing.call(lambda: (len(lane.table), lane.limit.count, srv.service.generation.inflight,
                                 lane.holder is None)) == (0, 0, 0, True)


@pytest.mark.parametrize("body, used", [
    (" forward . {up} {{\n" + EXPIRE + " }}\n", True),
    (" errors\n forward . {up} {{\n" + EXPIRE + " }}\n", True),  # errors passes every query on
    (" forward . {up}\n", False),  # a socket per query: the relay
    (" forward . {up} {{\n" + EXPIRE + "  max_age 1m\n }}\n", False),  # sockets retired by age: the relay
    (" forward . {up} {up} {{\n" + EXPIRE + " }}\n", False),  # two upstreams: the relay's policy
    (" cache\n forward . {up} {{\n" + EXPIRE + " }}\n", False),  # the cache keeps answers: the relay
    (" log\n forward . {up} {{\n" + EXPIRE + " }}\n", False),  # observers see every reply: the relay
    (" any\n forward . {up} {{\n" + EXPIRE + " }}\n", False),  # any answers some queries itself
    (" cookie\n forward . {up} {{\n" + EXPIRE + " }}\n", False),  # something at the door
    (" forward . {up} {{\n" + EXPIRE + "  except internal.example\n }}\n", False),  # name rules: the chain
])
def test_the_lane_takes_the_packets_only_of_a_bare_forward_with_expire(tmp_path, ups, body, used):
    up = ups()
    with testing.serve(".:0 {\n" + body.format(up=up.addr) + "}\n", tmp_path) as srv:
        assert [lane is not None for lane in lanes(srv)] == [used]
        for _ in range(3):  # the first opens the shared socket (through the relay), the next take the lane
            assert srv.query("www.example.org.", "A").answer[0][0].address == "192.0.2.1"


def test_the_lane_keeps_id_cd_and_case_and_sends_fresh_ids(tmp_path, ups):
    up = ups()
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n{EXPIRE} }}\n}}\n", tmp_path) as srv:
        lane = only_lane(srv)
        srv.query("open.example.org.", "A")
        reads = counting_reads(srv, lane)
        for cd in (False, True):
            q = dns.message.make_query("WwW.Example.ORG.", "A", want_dnssec=True)
            if cd:
                q.flags |= dns.flags.CD
            r = srv.send(q)
            assert r.id == q.id and bool(r.flags & dns.flags.CD) == cd
            assert r.question[0].name.to_text() == "WwW.Example.ORG." and r.answer[0][0].address == "192.0.2.1"
            assert up.seen[-1][2].id != q.id  # a fresh ID upstream
        assert len(reads) >= 2  # the answers were the lane's
        assert len({port for _, port, _ in up.seen}) == 1  # one shared socket
        assert eventually(lambda: idle(srv, lane))


def test_the_lane_answers_each_of_a_burst_from_one_socket(tmp_path, ups):
    up = ups()
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n{EXPIRE} }}\n}}\n", tmp_path) as srv:
        lane = only_lane(srv)
        srv.query("open.example.org.", "A")
        reads = counting_reads(srv, lane)
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.settimeout(5)
        ids = set()
        for i in range(200):
            q = dns.message.make_query(f"n{i}.example.", "A")
            q.id = i + 1
            ids.add(q.id)
            client.sendto(q.to_wire(), ("127.0.0.1", srv.port))
        answers = [dns.message.from_wire(client.recv(4096)) for _ in range(len(ids))]
        client.close()
        assert {a.id for a in answers} == ids
        assert all(a.question[0].name.to_text() == f"n{a.id - 1}.example." and a.answer for a in answers)
        assert reads and eventually(lambda: idle(srv, lane))
        # each counted (a query the upstream dropped from a full buffer is counted again on the normal path)
        assert testing.call(lambda: lane.up.requests) >= 201


def test_forged_answers_are_dropped_and_the_query_times_out(tmp_path, ups):
    """Random bytes, a wrong ID and a wrong question for a query out on the lane: all dropped; the query
    times out and goes the normal way (which gets the same garbage): SERVFAIL after the read timeout."""
    up = ups()
    text = f".:0 {{\n forward . {up.addr} {{\n{EXPIRE}  read_timeout 300ms\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        lane = only_lane(srv)
        srv.query("open.example.org.", "A")
        reads = counting_reads(srv, lane)
        up.mode = "garbage"
        start = time.monotonic()
        assert srv.query("www.example.org.", "A", timeout=8).rcode() == dns.rcode.SERVFAIL
        assert time.monotonic() - start > 0.3 and reads
        assert eventually(lambda: idle(srv, lane))
        up.mode = "healthy"
        assert eventually(lambda: srv.query("www.example.org.", "A").answer, timeout=5)


def test_a_silent_upstream_is_failed_over_to_the_normal_path_within_the_deadline(tmp_path, ups):
    up = ups()
    text = f".:0 {{\n forward . {up.addr} {{\n{EXPIRE}  read_timeout 300ms\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        lane = only_lane(srv)
        srv.query("open.example.org.", "A")
        reads = counting_reads(srv, lane)
        up.mode, up.delay = "slow", None
        seen = len(up.seen)
        start = time.monotonic()
        assert srv.query("www.example.org.", "A", timeout=8).rcode() == dns.rcode.SERVFAIL
        took = time.monotonic() - start
        assert 0.55 < took < 3, took  # the lane's read timeout, then the normal path's try
        assert len(up.seen) - seen >= 2  # asked again on the normal path
        assert testing.call(lambda: lane.up.fails) >= 1 and not reads  # out on the lane, never answered
        assert eventually(lambda: idle(srv, lane))


def test_a_truncated_answer_is_asked_again_over_tcp(tmp_path, ups):
    up = ups()
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n{EXPIRE} }}\n}}\n", tmp_path) as srv:
        lane = only_lane(srv)
        srv.query("open.example.org.", "A")
        reads = counting_reads(srv, lane)
        up.mode = "truncate"
        q = dns.message.make_query("www.example.org.", "TXT", use_edns=0, payload=4096)
        r = srv.send(q)
        assert r.id == q.id and not r.flags & dns.flags.TC and len(r.answer[0]) == 30
        assert [p for p, _, _ in up.seen[-2:]] == ["udp", "tcp"] and reads  # the lane read the TC answer
        assert eventually(lambda: idle(srv, lane))


def test_a_closed_upstream_breaks_the_socket_and_its_queries_end_at_once(tmp_path, ups):
    """The upstream's port closes: the shared socket reports it (ICMP port unreachable), the lane's queries
    go the normal way at once (no read timeout) and end in SERVFAIL; a new socket serves what comes next."""
    up = ups()
    port = up.port
    text = f".:0 {{\n forward . {up.addr} {{\n{EXPIRE}  read_timeout 2s\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        lane = only_lane(srv)
        srv.query("open.example.org.", "A")
        up.close()
        up.thread.join(5)  # its sockets are gone once its select returns: the port is closed
        start = time.monotonic()
        assert srv.query("www.example.org.", "A", timeout=8).rcode() == dns.rcode.SERVFAIL
        assert time.monotonic() - start < 1.5
        assert eventually(lambda: idle(srv, lane))
        again = ups(port=port)
        assert eventually(lambda: srv.query("www.example.org.", "A").answer, timeout=5)
        assert again.seen


class _CannotSend:
    """A shared socket whose sends fail (no buffer space), and which reads and closes as the real one."""

    def __init__(self, sock):
        self.real = sock

    def send(self, data):
        raise OSError(errno.ENOBUFS, "No buffer space available")

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_queries_whose_sends_fail_are_answered_on_a_new_socket_and_uncounted(tmp_path, ups):
    up = ups()
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n{EXPIRE} }}\n}}\n", tmp_path) as srv:
        lane = only_lane(srv)
        srv.query("open.example.org.", "A")
        pool = lane.pool
        testing.call(lambda: setattr(pool, "sock", _CannotSend(pool.sock)))
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.settimeout(5)
        for i in range(150):  # more than a burst of the outbox
            q = dns.message.make_query(f"n{i}.example.", "A")
            q.id = i + 1
            client.sendto(q.to_wire(), ("127.0.0.1", srv.port))
        answers = [dns.message.from_wire(client.recv(4096)) for _ in range(150)]
        client.close()
        assert {a.id for a in answers} == set(range(1, 151)) and all(a.answer for a in answers)
        assert testing.call(lambda: isinstance(pool.sock, _CannotSend)) is False  # not kept
        assert eventually(lambda: idle(srv, lane))


def test_past_max_concurrent_the_lane_leaves_queries_to_be_refused(tmp_path, ups):
    up = ups()
    text = f".:0 {{\n forward . {up.addr} {{\n{EXPIRE}  max_concurrent 2\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        lane = only_lane(srv)
        srv.query("open.example.org.", "A")
        reads = counting_reads(srv, lane)
        up.mode, up.delay = "late", 0.5
        with concurrent.futures.ThreadPoolExecutor(5) as ex:
            futures = [ex.submit(srv.query, f"n{i}.example.", "A", timeout=5) for i in range(5)]
            rcodes = sorted(f.result().rcode() for f in futures)
        assert rcodes == [dns.rcode.NOERROR] * 2 + [dns.rcode.REFUSED] * 3 and reads
        assert eventually(lambda: idle(srv, lane))


def test_a_reload_waits_for_the_lanes_queries(tmp_path, ups):
    up = ups()
    text = f".:0 {{\n forward . {up.addr} {{\n{EXPIRE} }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        lane = only_lane(srv)
        srv.query("open.example.org.", "A")
        reads = counting_reads(srv, lane)
        up.mode, up.delay = "late", 0.5
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            futures = [ex.submit(srv.query, f"n{i}.example.", "A", timeout=5) for i in range(4)]
            assert eventually(lambda: len(up.seen) == 5)  # all four out on the lane
            srv.write(text + "\n")
            assert srv.reload()
            assert [f.result().answer[0][0].address for f in futures] == ["192.0.2.1"] * 4
        assert reads
