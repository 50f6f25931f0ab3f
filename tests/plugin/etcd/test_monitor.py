"""Health-monitored addresses: DOWN addresses leave answers (and the cache) at once; all DOWN fails open."""
import dns.rdatatype

from helpers import Logged, eventually
from skydns import testing


def block(data, cache=True):
    return (f"skydns.local:0 {{\n {'cache' if cache else ''}\n etcd {{\n  path {data.path}\n"
            f"  endpoint {data.server.url}\n  monitor {data.path}/monitor/status\n }}\n}}\n")


def addrs(srv, name="db.skydns.local.", qtype="A"):
    r = srv.query(name, qtype)
    return sorted(rr.address for rrset in r.answer + r.additional
                  if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) for rr in rrset)


def status(data, ip, state):
    data.client.put(f"{data.path}/monitor/status/{ip}", f'{{"status":"{state}"}}')


def test_down_addresses_leave_and_return(tmp_path, data):
    for i in (1, 2, 3):
        data.put(f"x{i}.db.skydns.local", {"host": f"10.0.0.{i}", "port": 80})
    data.put("x4.db.skydns.local", {"host": "2001:db8::4", "port": 80})
    status(data, "10.0.0.3", "DOWN")
    with testing.serve(block(data), tmp_path) as srv:
        assert addrs(srv) == ["10.0.0.1", "10.0.0.2"]
        assert addrs(srv, qtype="SRV") == ["10.0.0.1", "10.0.0.2", "2001:db8::4"]  # additional too
        assert addrs(srv) == ["10.0.0.1", "10.0.0.2"]  # cached now
        status(data, "10.0.0.1", "DOWN")
        assert eventually(lambda: addrs(srv) == ["10.0.0.2"])  # the cache did not keep 10.0.0.1
        status(data, "10.0.0.3", "UP")
        data.client.delete(f"{data.path}/monitor/status/10.0.0.1")
        assert eventually(lambda: addrs(srv) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"])


def test_all_down_fails_open(tmp_path, data):
    for i in (1, 2):
        data.put(f"x{i}.db.skydns.local", {"host": f"10.0.0.{i}"})
        status(data, f"10.0.0.{i}", "DOWN")
    with Logged() as logged, testing.serve(block(data, cache=False), tmp_path) as srv:
        assert addrs(srv) == ["10.0.0.1", "10.0.0.2"]
        assert addrs(srv) == ["10.0.0.1", "10.0.0.2"]
    warned = [w for w in logged.warnings() if "every address of db.skydns.local. is DOWN" in w]
    assert len(warned) == 1
