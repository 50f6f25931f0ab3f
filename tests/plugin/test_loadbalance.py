"""loadbalance: round_robin on the wire (cache hits included), random_one, sticky per client."""
import collections

import dns.message
import dns.query
import dns.rdatatype
import pytest

from helpers import counting_serve, eventually, metric
from skydns import testing
from skydns.interfaces import IRawAnswerer


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
            (handler,) = srv.find(IRawAnswerer)
            calls = counting_serve(handler)
        firsts = [addresses(srv.send(q))[0] for _ in range(6)]
        if cache:
            assert calls == [] and metric(srv, "skydns_cache_hits_total") == 6
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
    from skydns.config.errors import CorefileError
    (tmp_path / "Corefile").write_text(". {\n loadbalance fastest\n whoami\n}\n")
    with pytest.raises(CorefileError, match=r"Corefile:2 - plugin/loadbalance: unknown policy 'fastest'"):
        config.load(str(tmp_path / "Corefile"))


def test_round_robin_rotates_mx(tmp_path, data):
    """CoreDNS's round_robin moves MX records too."""
    for i in (1, 2, 3):
        data.put(f"m{i}.mail.skydns.local", {"host": f"10.0.1.{i}", "mail": True, "priority": 10})
    with testing.serve(etcd_block(data, "round_robin", cache=False), tmp_path) as srv:
        firsts = {srv.query("mail.skydns.local.", "MX").answer[0][0].exchange.to_text() for _ in range(6)}
        assert len(firsts) == 3


def test_weighted_file_and_its_reload(tmp_path, data):
    """weighted FILE: the top address follows the weights (3:1:0 made 3:1:1 as unknown weighs 1); a changed
    file is read again after reload."""
    fill(data, 3)
    weights = tmp_path / "weights"
    weights.write_text("# weights\ndb.skydns.local\n10.0.0.1 200\n10.0.0.2 1\n10.0.0.3 1\n")
    text = (f"skydns.local:0 {{\n loadbalance weighted {weights} {{\n  reload 200ms\n }}\n etcd {{\n"
            f"  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        tops = collections.Counter(addresses(srv.query("db.skydns.local.", "A"))[0] for _ in range(100))
        assert tops["10.0.0.1"] > 80, tops
        weights.write_text("db.skydns.local\n10.0.0.1 1\n10.0.0.2 1\n10.0.0.3 200\n")
        import os
        os.utime(weights, (1, 1))  # a different mtime whatever the clock's resolution

        def third_on_top():
            tops = collections.Counter(addresses(srv.query("db.skydns.local.", "A"))[0] for _ in range(50))
            return tops["10.0.0.3"] > 40
        assert eventually(third_on_top, timeout=5)


def test_prefer_subnets(tmp_path, data):
    fill(data, 4)
    text = (f"skydns.local:0 {{\n loadbalance round_robin {{\n  prefer 10.0.0.3/32 10.0.0.4/32\n }}\n etcd {{\n"
            f"  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        for _ in range(4):
            assert set(addresses(srv.query("db.skydns.local.", "A"))[:2]) == {"10.0.0.3", "10.0.0.4"}


def test_bad_weight_file(tmp_path):
    from skydns import config
    from skydns.config.errors import CorefileError
    (tmp_path / "w").write_text("db.skydns.local\n10.0.0.1 300\n")
    (tmp_path / "Corefile").write_text(f". {{\n loadbalance weighted {tmp_path / 'w'}\n whoami\n}}\n")
    with pytest.raises(CorefileError, match="weight 300 is not between 1 and 255"):
        config.load(str(tmp_path / "Corefile"))
