"""loadbalance: round_robin on the wire (cache hits included), random_one, sticky per client."""
import collections

import dns.message
import dns.query
import dns.rdatatype
import pytest

from helpers import counting_serve, eventually
from skydns import testing


def etcd_block(data, policy, cache=True):
    return (f"skydns.local:0 {{\n loadbalance {policy}\n {'cache' if cache else ''}\n etcd {{\n"
            f"  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")


def fill(data, n=4):
    for i in range(1, n + 1):
        data.put(f"x{i}.db.skydns.local", {"host": f"10.0.0.{i}"})
    data.put("alias.skydns.local", {"host": "db.skydns.local"})


def addresses(reply):
    return [rr.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A for rr in rrset]


@pytest.mark.parametrize("cache", [True, False])
def test_round_robin_rotates_and_cname_stays_first(tmp_path, data, cache):
    fill(data, 3)
    with testing.serve(etcd_block(data, "round_robin", cache), tmp_path) as srv:
        q = dns.message.make_query("db.skydns.local.", "A")
        srv.send(q)
        if cache:  # repeated query bytes: cache hits on the server's raw path, rotated there
            handler = srv.plugin("cache")
            calls = counting_serve(handler)
        firsts = [addresses(srv.send(q))[0] for _ in range(6)]
        if cache:
            assert calls == [] and handler.hits == 6
        assert len(set(firsts)) == 3
        # A rotation: each address leads as often as the others, in a fixed cycle.
        assert firsts[:3] == firsts[3:]
        r = srv.query("alias.skydns.local.", "A")
        assert r.answer[0].rdtype == dns.rdatatype.CNAME and len(addresses(r)) == 3


def test_random_one_is_uniform(tmp_path, data):
    """1,000 queries: one address each, spread evenly (chi-square, 3 degrees of freedom, p > 0.001)."""
    fill(data, 4)
    with testing.serve(etcd_block(data, "random_one"), tmp_path) as srv:
        counts = collections.Counter()
        for _ in range(1000):
            got = addresses(srv.query("db.skydns.local.", "A"))
            assert len(got) == 1
            counts[got[0]] += 1
    assert set(counts) == {f"10.0.0.{i}" for i in range(1, 5)}
    chi2 = sum((c - 250) ** 2 / 250 for c in counts.values())
    assert chi2 < 16.27, counts  # the 0.999 quantile of chi-square with 3 degrees of freedom


def sticky_choices(srv, clients, repeat=1):
    out = {}
    for c in clients:
        q = dns.message.make_query("db.skydns.local.", "A")
        got = set()
        for _ in range(repeat):
            r = dns.query.udp(q, "::1" if ":" in c else "127.0.0.1", port=srv.port, source=c, timeout=3)
            got.update(addresses(r))
        assert len(got) == 1, (c, got)
        out[c] = got.pop()
    return out


def test_sticky_same_client_same_address_and_minimal_moves(tmp_path, data):
    """Each client keeps its address over 100 queries; removing one of 4 moves only that one's clients."""
    fill(data, 4)
    clients = [f"127.0.0.{i}" for i in range(2, 62)] + ["::1"]
    with testing.serve(etcd_block(data, "sticky"), tmp_path) as srv:
        first = sticky_choices(srv, clients[:10], repeat=100)
        before = sticky_choices(srv, clients)
        assert all(before[c] == first[c] for c in first)
        assert len(set(before.values())) >= 3  # clients are spread
        data.delete("x2.db.skydns.local")
        assert eventually(lambda: "10.0.0.2" not in sticky_choices(srv, clients).values())
        after = sticky_choices(srv, clients)
    moved = [c for c in clients if before[c] != after[c]]
    assert all(before[c] == "10.0.0.2" for c in moved)  # only the removed address's clients moved
    assert len(moved) == sum(1 for c in clients if before[c] == "10.0.0.2")
    assert len(moved) <= len(clients) // 2


def test_bad_policy(tmp_path):
    from skydns import config
    from skydns.errors import CorefileError
    (tmp_path / "Corefile").write_text(". {\n loadbalance weighted\n whoami\n}\n")
    with pytest.raises(CorefileError, match=r"Corefile:2 - plugin/loadbalance: unknown policy 'weighted'"):
        config.load(str(tmp_path / "Corefile"))
