"""locality: the instances of the client's own location first, farther ones when too few are healthy; placed by
its address or by a resolver's client subnet (scope set for caches); with loadbalance, health and the cache."""
import json

import dns.edns
import dns.message
import dns.query
import dns.rdatatype
import pytest

from helpers import eventually, metric
from skydns import testing

CLIENTS = ("network 127.0.0.1/32 eu-west/a\n  network 127.0.0.2/32 us-east/a\n"
           "  network 198.51.100.0/24 us-east/a\n  network 203.0.113.0/24 eu-west/b\n")


def fill(data):
    data.put("x1.web.skydns.local", {"host": "10.0.0.1", "port": 80, "location": "eu-west/a"})
    data.put("x2.web.skydns.local", {"host": "10.0.0.2", "port": 80, "location": "eu-west/b"})
    data.put("x3.web.skydns.local", {"host": "10.0.0.3", "port": 80, "location": "us-east/a"})
    data.put("x4.web.skydns.local", {"host": "10.0.0.4", "port": 80, "location": "us-east/a"})
    data.put("plain.skydns.local", {"host": "10.0.0.9"})


def corefile(data, extra="", props=""):
    return (f"skydns.local:0 {{\n{extra} locality {{\n  {CLIENTS}{props} }}\n etcd {{\n  path {data.path}\n"
            f"  endpoint {data.server.url}\n  monitor {data.path}-monitor\n }}\n}}\n")


def ask(srv, qtype="A", source="127.0.0.1", subnet=None):
    options = [dns.edns.ECSOption(subnet[0], subnet[1], 0)] if subnet else None
    q = dns.message.make_query("web.skydns.local.", qtype, use_edns=0 if subnet else None, options=options)
    r = dns.query.udp(q, "127.0.0.1", port=srv.port, source=source, timeout=3)
    if qtype == "SRV":
        return sorted(rd.target.to_text() for rrset in r.answer for rd in rrset), r
    return sorted(rd.address for rrset in r.answer for rd in rrset if rrset.rdtype == dns.rdatatype.A), r


def test_the_clients_location_first(tmp_path, data):
    fill(data)
    with testing.serve(corefile(data), tmp_path) as srv:
        assert ask(srv)[0] == ["10.0.0.1"]  # 127.0.0.1 is in eu-west/a
        assert ask(srv, source="127.0.0.2")[0] == ["10.0.0.3", "10.0.0.4"]  # us-east/a
        assert ask(srv, source="127.0.0.3")[0] == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]  # unplaced
        targets, r = ask(srv, "SRV")
        assert targets == ["x1.web.skydns.local."]
        assert [rrset.name.to_text() for rrset in r.additional] == ["x1.web.skydns.local."]
        assert srv.query("plain.skydns.local.", "A").answer[0][0].address == "10.0.0.9"  # no locations: whole
        assert metric(srv, "skydns_locality_answers_total", reach="near") >= 2


def test_too_few_healthy_spills_to_the_next_nearest(tmp_path, data):
    """x1 (the only instance in eu-west/a) DOWN: eu-west/a's clients get eu-west/b's, not us-east's; with
    minimum 3, two tiers are not enough and everything near enough comes."""
    fill(data)
    with testing.serve(corefile(data), tmp_path) as srv:
        data.client.put(f"{data.path}-monitor/10.0.0.1", json.dumps({"status": "DOWN"}))
        assert eventually(lambda: ask(srv)[0] == ["10.0.0.2"])
        assert metric(srv, "skydns_locality_answers_total", reach="spilled") >= 1
    with testing.serve(corefile(data, props="  minimum 3\n"), tmp_path) as srv:
        assert eventually(lambda: ask(srv)[0] == ["10.0.0.2", "10.0.0.3", "10.0.0.4"])


def test_a_resolvers_client_subnet_places_its_client_and_comes_back_scoped(tmp_path, data):
    """The ECS option stands for the client behind a resolver; the answer carries it back with the scope of the
    network that decided (RFC 7871), so the resolver's cache keeps answers for different subnets apart; the
    server's own cache never mixes them either."""
    fill(data)
    with testing.serve(corefile(data, extra=" cache\n"), tmp_path) as srv:
        for _ in range(2):  # the second from the cache
            addrs, r = ask(srv, subnet=("198.51.100.7", 32))
            assert addrs == ["10.0.0.3", "10.0.0.4"]
            (ecs,) = [o for o in r.options if o.otype == 8]
            assert (ecs.address, ecs.srclen, ecs.scopelen) == ("198.51.100.7", 32, 24)
            assert ask(srv, subnet=("203.0.113.9", 24))[0] == ["10.0.0.2"]
            assert ask(srv)[0] == ["10.0.0.1"]
        addrs, r = ask(srv, subnet=("192.0.2.1", 24))  # no network holds it: whole, scope 0
        assert addrs == ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]
        assert [o.scopelen for o in r.options if o.otype == 8] == [0]


def test_loadbalance_picks_among_the_near_ones(tmp_path, data):
    fill(data)
    with testing.serve(corefile(data, extra=" loadbalance random_one\n"), tmp_path) as srv:
        seen = {tuple(ask(srv, source="127.0.0.2")[0]) for _ in range(30)}
        assert seen == {("10.0.0.3",), ("10.0.0.4",)}


@pytest.mark.parametrize("body, words", [
    ("locality\n", "needs at least one 'network CIDR LOCATION'"),
    ("locality {\n  network 10.0.0.0/33 x\n }\n", "is not a network"),
    ("locality {\n  network 10.0.0.0/8 eu west\n }\n", "wrong argument count"),
    ("locality {\n  network 10.0.0.0/8 eu/\n }\n", "names separated by '/'"),
])
def test_bad_configuration(body, words):
    assert words in testing.error(f"skydns.local {{\n {body} whoami\n}}\n")
