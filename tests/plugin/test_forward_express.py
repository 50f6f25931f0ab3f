"""forward's express lane (express.py): when a listener hands it its UDP packets, and that what it relays
ends as on the relay and the normal path (IDs, CD bit, case, forged and truncated answers, timeouts,
broken sockets, counts in flight, reloads)."""
import concurrent.futures
import random
import socket
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

from helpers import CannotSend, Logged, burst, eventually
from helpers.metrics import scrape, value
from skydns import testing
from skydns.interfaces import IRawForwarder

EXPIRE = "  expire 10s\n"


def paths(srv):
    """Per listener: whether its UDP port hands packets to the lanes first (the door), and the forward's lanes
    the server offers the raw path's packets to (None when it offers them to the relay, or to nothing)."""
    out = []
    for listener in srv.service.listeners.values():
        server = listener.server
        raw = server.raw_forward
        out.append((server.handle_udp != server.handle, raw.__self__ if raw is not None and raw.__name__ == "offer"
                    else None))
    return out


def opened(srv, host="127.0.0.1"):
    """The first lane of the only listener's forward, once a first query has opened the shared socket (through
    the relay: a lane takes packets only while it is open), and the list its reads of the socket are counted in
    from then on."""
    ((_door, lanes),) = paths(srv)
    assert lanes is not None
    assert srv.query("open.example.org.", "A", host=host).answer
    lane = lanes.lane
    reads = []
    read = lane.read
    testing.call(lambda: setattr(lane, "read", lambda pool: (reads.append(1), read(pool))))
    return lane, reads


def idle(srv, lane):
    """Nothing out on the lane: no ID taken, nothing counted in flight, the configuration not held."""
    return testing.call(lambda: (len(lane.table), lane.limit.count, srv.service.generation.inflight,
                                 lane.holder is None)) == (0, 0, 0, True)


def forward(up, *lines):
    return f".:0 {{\n forward . {up.addr} {{\n{EXPIRE}" + "".join(f"  {x}\n" for x in lines) + " }\n}\n"


@pytest.mark.parametrize("body, door, used", [
    (" forward . {up} {{\n" + EXPIRE + " }}\n", True, True),
    (" errors\n forward . {up} {{\n" + EXPIRE + " }}\n", True, True),  # errors passes every query on
    (" forward . {up}\n", False, False),  # a socket per query: the relay
    (" forward . {up} {{\n" + EXPIRE + "  max_age 1m\n }}\n", False, False),  # sockets retired by age: the relay
    (" forward . {up} {up} {{\n" + EXPIRE + " }}\n", True, True),  # a lane each, picked by the policy
    (" log\n forward . {up} {{\n" + EXPIRE + " }}\n", True, True),  # observers see what the lanes send
    (" cache\n forward . {up} {{\n" + EXPIRE + " }}\n", False, True),  # the cache's misses, kept on the way
    (" any\n forward . {up} {{\n" + EXPIRE + " }}\n", False, True),  # what any passes on
    (" cookie\n forward . {up} {{\n" + EXPIRE + " }}\n", False, True),  # what the guard at the door admits
    (" forward . {up} {{\n" + EXPIRE + "  except internal.example\n }}\n", False, False),  # name rules: the chain
])
def test_the_lanes_take_the_raw_paths_packets_of_a_forward_with_expire(tmp_path, ups, body, door, used):
    """The door (the port's packets straight to the lanes) only for a bare forward; the lanes wherever the
    server offers packets to forward's raw relay."""
    up = ups()
    with testing.serve(".:0 {\n" + body.format(up=up.addr) + "}\n", tmp_path) as srv:
        assert [(d, lanes is not None) for d, lanes in paths(srv)] == [(door, used)]
        for i in range(3):  # the first opens the shared socket (through the relay), the next take a lane
            assert srv.query(f"n{i}.example.org.", "A").answer[0][0].address == "192.0.2.1"


def test_the_lane_keeps_id_cd_and_case_and_sends_fresh_ids(tmp_path, ups):
    up = ups()
    with testing.serve(forward(up), tmp_path) as srv:
        lane, reads = opened(srv)
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
    with testing.serve(forward(up), tmp_path) as srv:
        lane, reads = opened(srv)
        answers = burst(srv.port, 200)
        assert {a.id for a in answers} == set(range(1, 201))
        assert all(a.question[0].name.to_text() == f"n{a.id - 1}.example." and a.answer for a in answers)
        assert reads and eventually(lambda: idle(srv, lane))
        # each counted (a query the upstream dropped from a full buffer is counted again on the normal path)
        assert testing.call(lambda: lane.up.requests) >= 201


def test_forged_answers_are_dropped_and_the_query_times_out(tmp_path, ups):
    """Random bytes, a wrong ID and a wrong question for a query out on the lane: all dropped; the query
    times out and goes the normal way (which gets the same garbage): SERVFAIL after the read timeout."""
    up = ups()
    with testing.serve(forward(up, "read_timeout 300ms"), tmp_path) as srv:
        lane, reads = opened(srv)
        up.mode = "garbage"
        start = time.monotonic()
        assert srv.query("www.example.org.", "A", timeout=8).rcode() == dns.rcode.SERVFAIL
        assert time.monotonic() - start > 0.3 and reads
        assert eventually(lambda: idle(srv, lane))
        up.mode = "healthy"
        assert eventually(lambda: srv.query("www.example.org.", "A").answer, timeout=5)


def test_a_silent_upstream_is_failed_over_to_the_normal_path_within_the_deadline(tmp_path, ups):
    up = ups()
    with testing.serve(forward(up, "read_timeout 300ms"), tmp_path) as srv:
        lane, reads = opened(srv)
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
    with testing.serve(forward(up), tmp_path) as srv:
        lane, reads = opened(srv)
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
    with testing.serve(forward(up, "read_timeout 2s"), tmp_path) as srv:
        lane, _reads = opened(srv)
        up.close()
        up.thread.join(5)  # its sockets are gone once its select returns: the port is closed
        start = time.monotonic()
        assert srv.query("www.example.org.", "A", timeout=8).rcode() == dns.rcode.SERVFAIL
        assert time.monotonic() - start < 1.5
        assert eventually(lambda: idle(srv, lane))
        again = ups(port=port)
        assert eventually(lambda: srv.query("www.example.org.", "A").answer, timeout=5)
        assert again.seen


def test_queries_whose_sends_fail_are_answered_on_a_new_socket_and_uncounted(tmp_path, ups):
    up = ups()
    with testing.serve(forward(up), tmp_path) as srv:
        lane, _reads = opened(srv)
        pool = lane.pool
        testing.call(lambda: setattr(pool, "sock", CannotSend(pool.sock)))
        answers = burst(srv.port, 150)  # more than a burst of the outbox
        assert {a.id for a in answers} == set(range(1, 151)) and all(a.answer for a in answers)
        assert testing.call(lambda: isinstance(pool.sock, CannotSend)) is False  # not kept
        assert eventually(lambda: idle(srv, lane))


def late_queries(srv, up, count: int, then=None) -> list:
    """``count`` queries at once to an upstream that answers each after half a second; their answers
    (``then()`` runs while they are out)."""
    up.mode, up.delay = "late", 0.5
    seen = len(up.seen)
    with concurrent.futures.ThreadPoolExecutor(count) as ex:
        futures = [ex.submit(srv.query, f"n{i}.example.", "A", timeout=5) for i in range(count)]
        if then is not None:
            then(seen)
        return [f.result() for f in futures]


def test_past_max_concurrent_the_lane_leaves_queries_to_be_refused(tmp_path, ups):
    up = ups()
    with testing.serve(forward(up, "max_concurrent 2"), tmp_path) as srv:
        lane, reads = opened(srv)
        rcodes = sorted(r.rcode() for r in late_queries(srv, up, 5))
        assert rcodes == [dns.rcode.NOERROR] * 2 + [dns.rcode.REFUSED] * 3 and reads
        assert eventually(lambda: idle(srv, lane))


def test_a_reload_waits_for_the_lanes_queries(tmp_path, ups):
    up = ups()
    text = forward(up)
    with testing.serve(text, tmp_path) as srv:
        _lane, reads = opened(srv)

        def reload(seen):
            assert eventually(lambda: len(up.seen) == seen + 4)  # all four out on the lane
            srv.write(text + "\n")
            assert srv.reload()

        answers = late_queries(srv, up, 4, reload)
        assert [r.answer[0][0].address for r in answers] == ["192.0.2.1"] * 4 and reads


def test_the_lane_answers_clients_over_ipv6(tmp_path, ups):
    up = ups()
    text = f".:0 {{\n bind ::1\n forward . {up.addr} {{\n{EXPIRE} }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        lane, reads = opened(srv, "::1")
        q = dns.message.make_query("www.example.org.", "A")
        r = srv.send(q, host="::1")
        assert r.id == q.id and r.answer[0][0].address == "192.0.2.1" and reads
        assert eventually(lambda: idle(srv, lane))


@pytest.mark.parametrize("policy", ["random", "round_robin"])
def test_each_upstream_has_a_lane_and_the_policy_spreads_the_queries(tmp_path, ups, policy):
    one, two = ups(), ups(address="192.0.2.77")
    text = f".:0 {{\n forward . {one.addr} {two.addr} {{\n{EXPIRE}  policy {policy}\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        forward_ = srv.find(IRawForwarder)[0]
        for i in range(40):
            assert srv.query(f"n{i}.example.", "A").answer
        assert len(forward_.lanes.lanes) == 2 and all(len(up.seen) >= 5 for up in (one, two))
        assert all(len({port for _, port, _ in up.seen}) == 1 for up in (one, two))  # one shared socket each
        assert all(eventually(lambda lane=lane: idle(srv, lane)) for lane in forward_.lanes.lanes)


def test_a_silent_first_upstream_is_failed_over_to_the_next_within_read_timeout(tmp_path, ups):
    silent, good = ups("slow", delay=None), ups(address="192.0.2.77")
    text = (f".:0 {{\n forward . {silent.addr} {good.addr} {{\n{EXPIRE}  policy sequential\n"
            "  read_timeout 300ms\n  max_fails 0\n }\n}\n")
    with testing.serve(text, tmp_path) as srv:
        forward_ = srv.find(IRawForwarder)[0]
        lane = forward_.lanes.lanes[0]
        fallbacks = []
        fallback = lane._fallback
        for i in range(2):  # the first opens the silent one's socket on the relay, the second takes its lane
            start = time.monotonic()
            r = srv.query("www.example.org.", "A", timeout=5)
            took = time.monotonic() - start
            assert r.answer[0][0].address == "192.0.2.77" and 0.25 < took < 1.5, took
            if i == 0:
                testing.call(lambda: setattr(lane, "_fallback", lambda *a: (fallbacks.append(a), fallback(*a))))
        assert len(silent.seen) == 2 and len(fallbacks) == 1  # the second timed out on the lane
        assert eventually(lambda: idle(srv, lane))


def test_observers_see_what_the_lane_sends(tmp_path, ups):
    """prometheus and log in front: the lane still takes the packets, and each query is counted and logged
    once, answered or finished on the normal path."""
    up = ups()
    mport = testing.free_port()
    text = (f".:0 {{\n prometheus 127.0.0.1:{mport}\n log\n forward . {up.addr} {{\n{EXPIRE}"
            "  read_timeout 300ms\n }\n}\n")
    with Logged() as logged, testing.serve(text, tmp_path) as srv:
        lane, reads = opened(srv)
        for _ in range(3):
            assert srv.query("www.example.org.", "A").answer
        up.mode, up.delay = "slow", None
        assert srv.query("www.example.org.", "A", timeout=8).rcode() == dns.rcode.SERVFAIL  # on the normal path
        labels = dict(server=".:0", zone=".", proto="udp", family="1", type="A")
        assert eventually(lambda: value(scrape(mport), "skydns_dns_request_count_total", **labels) == 5)
        assert eventually(lambda: sum(t.count("www.example.org.") for t in logged.lines("skydns.plugin.log")) == 4)
        assert len(reads) >= 3 and eventually(lambda: idle(srv, lane))


def test_mangled_queries_on_the_lane_end_and_leave_nothing_out(tmp_path, ups):
    """Five hundred queries whose question and records are random bytes, straight into the lane: whatever the
    upstream makes of them (an answer, FORMERR, nothing), each ends (on the lane or after its read timeout on
    the normal path), nothing stays counted, and proper queries are answered throughout."""
    up = ups()
    with testing.serve(forward(up, "read_timeout 300ms"), tmp_path) as srv:
        lane, reads = opened(srv)
        rnd = random.Random(7)
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for i in range(500):
                header = (i + 1).to_bytes(2, "big") + b"\x01\x00" + bytes(rnd.choice((0, 1, 2)) for _ in range(8))
                client.sendto(header + bytes(rnd.randrange(256) for _ in range(rnd.randrange(5, 60))),
                              ("127.0.0.1", srv.port))
                if i % 100 == 0:
                    assert srv.query(f"ok{i}.example.", "A").answer
        finally:
            client.close()
        assert eventually(lambda: idle(srv, lane), timeout=10) and reads
        assert srv.query("www.example.org.", "A").answer


def test_behind_the_cache_misses_take_a_lane_and_are_kept(tmp_path, ups):
    """cache + forward with expire: a miss goes out on a lane, its answer is kept on the way back (TTL as the
    cache sends it), the next query for it (any letter case) is a hit; a TC answer is kept as the normal path
    finishes it."""
    up = ups()
    with testing.serve(f".:0 {{\n cache\n forward . {up.addr} {{\n{EXPIRE} }}\n}}\n", tmp_path) as srv:
        lane, reads = opened(srv)
        seen = len(up.seen)
        assert srv.query("kept.example.org.", "A").answer[0][0].address == "192.0.2.1"
        assert reads and len(up.seen) == seen + 1
        assert srv.query("kept.example.org.", "A").answer and srv.query("KEPT.Example.org.", "A").answer
        assert len(up.seen) == seen + 1  # both hits
        assert eventually(lambda: idle(srv, lane))


def test_stream_queries_take_a_lane_with_prefer_udp(tmp_path, ups):
    """prefer_udp: a TCP client's query goes out on a lane over UDP and comes back whole over TCP; a truncated
    answer is asked again over TCP and reaches the client whole."""
    up = ups()
    text = f".:0 {{\n forward . {up.addr} {{\n{EXPIRE}  prefer_udp\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        lane, reads = opened(srv)
        q = dns.message.make_query("www.example.org.", "A")
        r = srv.send(q, tcp=True)
        assert r.id == q.id and r.answer[0][0].address == "192.0.2.1" and up.seen[-1][0] == "udp" and reads
        up.mode = "truncate"
        r = srv.query("www.example.org.", "TXT", tcp=True)
        assert not r.flags & dns.flags.TC and len(r.answer[0]) == 30
        assert [p for p, _, _ in up.seen[-2:]] == ["udp", "tcp"] and len(reads) >= 2
        assert eventually(lambda: idle(srv, lane))
