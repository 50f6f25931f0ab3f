"""forward's raw UDP relay (relay.py): when it is used, and that it behaves as the normal path does."""
import concurrent.futures
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from helpers import CannotSend, burst, eventually, metric
from helpers.logs import Logged
from helpers.metrics import scrape, value
from skydns import testing


def relays(srv):
    return [listener.server.raw_forward is not None for listener in srv.service.listeners.values()]


@pytest.mark.parametrize("body, used", [
    (" forward . {up}\n", True),
    (" forward . {up} {{\n  expire 10s\n }}\n", True),
    (" errors\n forward . {up}\n", True),  # errors is IRawTransparent
    (" forward . {up} {{\n  except internal.example\n }}\n", False),
    (" forward . {up} {{\n  failover SERVFAIL\n }}\n", False),
    (" forward . {up} {{\n  force_tcp\n }}\n", False),
    (" cache\n forward . {up}\n", True),  # misses relayed, answers kept by the cache (IRawKeeper)
    (" cache {{\n  prefetch 2\n }}\n forward . {up}\n", False),  # a cache that refreshes: the chain
    (" forward example.org {up}\n forward . {up}\n", False),
])
def test_relay_is_used_only_when_every_query_may_go_unread(tmp_path, ups, body, used):
    up = ups()
    with testing.serve(".:0 {\n" + body.format(up=up.addr) + "}\n", tmp_path) as srv:
        assert relays(srv) == [used]
        r = srv.query("www.example.org.", "A")
        assert r.answer[0][0].address == "192.0.2.1"


def test_relay_keeps_id_cd_and_case(tmp_path, ups):
    up = ups()
    with testing.serve(f".:0 {{\n forward . {up.addr}\n}}\n", tmp_path) as srv:
        q = dns.message.make_query("WwW.Example.ORG.", "A", want_dnssec=True)
        q.flags |= dns.flags.CD
        r = srv.send(q)
        assert r.id == q.id and r.flags & dns.flags.CD and r.question[0].name.to_text() == "WwW.Example.ORG."
        assert up.seen[-1][2].id != q.id  # a fresh ID upstream


def test_observers_see_relayed_queries(tmp_path, ups):
    up = ups()
    mport = testing.free_port()
    text = f".:0 {{\n prometheus 127.0.0.1:{mport}\n log\n forward . {up.addr}\n}}\n"
    with Logged() as logged, testing.serve(text, tmp_path) as srv:
        assert relays(srv) == [True]
        for _ in range(3):
            srv.query("www.example.org.", "A")
        labels = dict(server=".:0", zone=".", proto="udp", family="1", type="A")
        assert eventually(lambda: value(scrape(mport), "skydns_dns_request_count_total", **labels) == 3)
        assert eventually(lambda: sum(t.count("www.example.org.") for t in logged.lines("skydns.plugin.log")) == 3)


def test_silent_upstream_falls_over_within_read_timeout(tmp_path, ups):
    silent, good = ups("slow", delay=None), ups(address="192.0.2.77")
    text = (f".:0 {{\n forward . {silent.addr} {good.addr} {{\n  policy sequential\n  read_timeout 300ms\n"
            "  max_fails 0\n }\n}\n")
    with testing.serve(text, tmp_path) as srv:
        start = time.monotonic()
        r = srv.query("www.example.org.", "A", timeout=5)
        took = time.monotonic() - start
        assert r.answer[0][0].address == "192.0.2.77" and 0.25 < took < 1.5, took  # forward's default read_timeout would be 2s


@pytest.mark.parametrize("expire", ["", "  expire 10s\n"])
def test_relay_drops_forged_answers(tmp_path, ups, expire):
    """Random bytes, a wrong ID and a wrong question come first from this upstream: all dropped; with
    nothing else coming the query times out and the client gets SERVFAIL."""
    up = ups("garbage")
    text = f".:0 {{\n forward . {up.addr} {{\n  read_timeout 300ms\n{expire} }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        assert relays(srv) == [True]
        assert srv.query("www.example.org.", "A", timeout=8).rcode() == dns.rcode.SERVFAIL


def test_reload_waits_for_relayed_queries(tmp_path, ups):
    """Queries out on the relay count as in flight: a reload retires the old forward only after they are
    answered."""
    up = ups("late", delay=0.5)
    text = f".:0 {{\n forward . {up.addr}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            futures = [ex.submit(srv.query, f"n{i}.example.", "A", timeout=5) for i in range(4)]
            assert eventually(lambda: len(up.seen) == 4)  # all four out on the relay
            srv.write(text + "\n")
            assert srv.reload()
            assert [f.result().answer[0][0].address for f in futures] == ["192.0.2.1"] * 4


def test_the_relay_leaves_any_and_chaos_their_queries(tmp_path, ups):
    """any and chaos in front of a relayed forward (with a cache or not) still answer what is theirs: the
    relay takes only the packets they would pass on (raw_passes)."""
    up = ups()
    for cache in ("", " cache\n"):
        text = f".:0 {{\n any\n chaos skydns-test\n{cache} forward . {up.addr}\n}}\n"
        with testing.serve(text, tmp_path) as srv:
            assert relays(srv) == [True]
            seen = len(up.seen)
            r = srv.query("www.example.org.", "ANY")
            assert r.answer[0].rdtype == dns.rdatatype.HINFO
            r = srv.query("version.bind.", "TXT", rdclass="CH")
            assert r.answer[0][0].strings == (b"skydns-test",)
            assert len(up.seen) == seen  # neither went upstream
            assert srv.query("www.example.org.", "A").answer[0][0].address == "192.0.2.1"
            assert len(up.seen) == seen + 1


def test_behind_the_cache_misses_are_relayed_and_kept(tmp_path, ups):
    """cache + forward: a miss goes out on the relay (no Request, no Deferred), its answer is kept, the next
    query for it (in any letter case) is a hit."""
    up = ups()
    with testing.serve(f".:0 {{\n cache\n forward . {up.addr}\n}}\n", tmp_path) as srv:
        assert srv.query("kept.example.org.", "A").answer[0][0].address == "192.0.2.1"
        assert srv.query("kept.example.org.", "A").answer
        assert srv.query("KEPT.Example.org.", "A").answer
        assert len(up.seen) == 1
        assert metric(srv, "skydns_cache_hits_total") == 2 and metric(srv, "skydns_cache_entries") == 1


def test_stream_queries_take_the_relay_with_prefer_udp(tmp_path, ups):
    """prefer_udp: a TCP client's query is relayed unread over UDP (the raw relay's streams); the client's ID,
    its observers' view (proto tcp) and the in-flight count are as on UDP."""
    up = ups()
    mport = testing.free_port()
    text = f".:0 {{\n prometheus 127.0.0.1:{mport}\n forward . {up.addr} {{\n  prefer_udp\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        server = next(iter(srv.service.listeners.values())).server
        assert server.raw_streams
        relay = server.raw_forward.__self__
        relayed = []
        answered = relay.answered
        relay.answered = lambda r, answer: (relayed.append(r.proto), answered(r, answer))
        q = dns.message.make_query("www.example.org.", "A")
        r = srv.send(q, tcp=True)
        assert r.id == q.id and r.answer[0][0].address == "192.0.2.1"
        assert up.seen[-1][0] == "udp" and relayed == ["tcp"]
        labels = dict(server=".:0", zone=".", proto="tcp", family="1", type="A")
        assert eventually(lambda: value(scrape(mport), "skydns_dns_request_count_total", **labels) == 1)


def test_stream_queries_go_over_tcp_without_prefer_udp(tmp_path, ups):
    """CoreDNS's rule: what comes over TCP leaves over TCP; the relay keeps to UDP clients."""
    up = ups()
    with testing.serve(f".:0 {{\n forward . {up.addr}\n}}\n", tmp_path) as srv:
        server = next(iter(srv.service.listeners.values())).server
        assert server.raw_forward is not None and not server.raw_streams
        r = srv.query("www.example.org.", "A", tcp=True)
        assert r.answer[0][0].address == "192.0.2.1" and up.seen[-1][0] == "tcp"


def test_a_truncated_relayed_answer_reaches_a_stream_client_whole(tmp_path, ups):
    """A TCP client relayed over UDP gets TC from the upstream: the normal path asks again over TCP and the
    client gets all of it (not cut to a UDP size)."""
    up = ups("truncate")
    with testing.serve(f".:0 {{\n forward . {up.addr} {{\n  prefer_udp\n }}\n}}\n", tmp_path) as srv:
        r = srv.query("www.example.org.", "TXT", tcp=True)
        assert not r.flags & dns.flags.TC and len(r.answer[0]) == 30
        assert [p for p, _, _ in up.seen[-2:]] == ["udp", "tcp"]


def test_queries_whose_sends_fail_in_a_burst_are_answered_and_uncounted(tmp_path, ups):
    """Queries leave at the end of a reactor pass, or in bursts from within the relay's send: a send that
    fails there fails the queries of its socket later, once the relay has counted them; every client gets
    its answer through the normal path, and nothing stays in flight."""
    bad, good = ups(), ups(address="192.0.2.77")
    # max_age keeps the shared sockets on the relay (expire alone would take the express lanes: their own test)
    text = f".:0 {{\n forward . {bad.addr} {good.addr} {{\n  expire 10s\n  max_age 1h\n  policy sequential\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        relay = next(iter(srv.service.listeners.values())).server.raw_forward.__self__
        assert srv.query("www.example.org.", "A").answer  # bad's shared socket is open
        pool = relay.forward.upstreams[0].pools["udp"]
        testing.call(lambda: setattr(pool, "sock", CannotSend(pool.sock)))
        answers = burst(srv.port, 150)  # more than a burst, sent at once: read in one or two passes
        assert {a.id for a in answers} == set(range(1, 151)) and all(a.answer for a in answers)
        assert testing.call(lambda: isinstance(pool.sock, CannotSend)) is False  # not kept
        assert eventually(lambda: testing.call(lambda: (relay.forward.limit.count, len(relay.out))) == (0, 0))
