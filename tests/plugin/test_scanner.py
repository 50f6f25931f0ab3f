"""scanner: probes the addresses of the etcd zones and writes the status keys monitor follows.

Real etcd, real TCP and HTTP services the tests stop and start, real DNS queries: an address leaves the
answer within fall x interval of its service stopping and returns within rise x interval of it coming back.
"""
import json
import time

import dns.rdatatype
import pytest
from twisted.internet import task

from helpers import Logged, eventually, metric
from helpers.listeners import HTTPService, TCPService
from helpers.metrics import scrape, value
from skydns import testing
from skydns.clients import probes
from skydns.interfaces import IMonitoredSource
from skydns.testing.server import call

INTERVAL, RISE, FALL = 0.2, 2, 2


def corefile(data, extra="", port=0, scanner_id="s1"):
    return (f"skydns.local:{port} {{\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n"
            f"  monitor {data.path}/monitor/status\n }}\n scanner {{\n  interval 200ms\n  timeout 150ms\n"
            f"  rise {RISE}\n  fall {FALL}\n  lease 2s\n  id {scanner_id}\n{extra} }}\n}}\n")


def addrs(srv, name="db.skydns.local."):
    r = srv.query(name, "A")
    return sorted(rr.address for rrset in r.answer if rrset.rdtype == dns.rdatatype.A for rr in rrset)


def statuses(data):
    out = {}
    for value_, meta in data.client.get_prefix(f"{data.path}/monitor/status/"):
        key = meta.key.decode()[len(data.path) + len("/monitor/status/"):]
        if "/" not in key:
            out[key] = (json.loads(value_)["status"], meta.lease_id if hasattr(meta, "lease_id") else None)
    return out


def timed(fn, limit):
    start = time.monotonic()
    assert eventually(fn, timeout=limit), f"not within {limit}s"
    return time.monotonic() - start


def test_tcp_checks_take_addresses_out_and_back(tmp_path, data):
    a, b = TCPService("127.0.1.1"), TCPService("127.0.1.2")
    data.put("x1.db.skydns.local", {"host": "127.0.1.1", "port": a.port})
    data.put("x2.db.skydns.local", {"host": "127.0.1.2", "port": b.port})
    with testing.serve(corefile(data), tmp_path) as srv:
        assert eventually(lambda: statuses(data).get("127.0.1.1", ("",))[0] == "UP")
        assert addrs(srv) == ["127.0.1.1", "127.0.1.2"]
        a.stop()
        out = timed(lambda: addrs(srv) == ["127.0.1.2"], 5)
        a.start()
        back = timed(lambda: addrs(srv) == ["127.0.1.1", "127.0.1.2"], 5)
        print(f"\nTCP: out of the answer {out:.2f}s after the service stopped (fall x interval = "
              f"{FALL * INTERVAL:.1f}s), back {back:.2f}s after it returned (rise x interval = {RISE * INTERVAL:.1f}s)")
        # one probe period of slack: the first failure may come up to an interval after the stop
        assert out < (FALL + 1) * INTERVAL + 1.2 and back < (RISE + 1) * INTERVAL + 1.2  # slack: a busy CI
        assert {ip: s for ip, (s, _) in statuses(data).items()} == {"127.0.1.1": "UP", "127.0.1.2": "UP"}


def test_a_status_says_since_when_and_which_scanner(tmp_path, data):
    """``since`` (when the status changed) and ``by`` (the scanner): what the console shows beside an address."""
    a = TCPService("127.0.1.1")
    data.put("x1.db.skydns.local", {"host": "127.0.1.1", "port": a.port})
    key = f"{data.path}/monitor/status/127.0.1.1"
    with testing.serve(corefile(data, scanner_id="s-one"), tmp_path) as srv:
        assert eventually(lambda: statuses(data).get("127.0.1.1", ("",))[0] == "UP")
        up = json.loads(data.client.get(key)[0])
        assert up["by"] == "s-one" and abs(up["since"] - time.time()) < 10
        a.stop()
        assert eventually(lambda: statuses(data)["127.0.1.1"][0] == "DOWN")
        down = json.loads(data.client.get(key)[0])
        assert down["by"] == "s-one" and down["since"] >= up["since"]
        source = srv.find(IMonitoredSource)[0]
        assert eventually(lambda: call(source.statuses).get("127.0.1.1") == down)
    a.start()


def test_http_check_with_expected_status(tmp_path, data):
    web = HTTPService("127.0.0.1")
    data.put("x1.db.skydns.local", {"host": "127.0.0.1", "port": 9, "health": {
        "type": "http", "port": web.port, "path": "/healthz", "status": 200}})
    data.put("x2.db.skydns.local", {"host": "127.0.1.3", "health": False})  # not probed: stays served
    with Logged() as logged, testing.serve(corefile(data), tmp_path) as srv:
        assert eventually(lambda: "/healthz" in web.paths)
        assert not factory_lines(logged)  # a probe is not worth a log line
        web.status = 503
        out = timed(lambda: addrs(srv) == ["127.0.1.3"], 5)
        web.status = 200
        back = timed(lambda: addrs(srv) == ["127.0.0.1", "127.0.1.3"], 5)
        print(f"\nHTTP: out {out:.2f}s after 503, back {back:.2f}s after 200")
        assert out < (FALL + 1) * INTERVAL + 1.2 and back < (RISE + 1) * INTERVAL + 1.2  # slack: a busy CI
        assert "127.0.1.3" not in statuses(data)
    web.stop()


@pytest.mark.skipif(not probes.icmp_allowed(), reason="no unprivileged ping sockets (net.ipv4.ping_group_range)")
def test_icmp_check(tmp_path, data):
    data.put("x1.db.skydns.local", {"host": "127.0.0.1", "health": {"type": "icmp"}})
    data.put("x2.db.skydns.local", {"host": "198.51.100.7", "health": {"type": "icmp"}})  # TEST-NET-2: no echo
    with testing.serve(corefile(data), tmp_path):
        assert eventually(lambda: {ip: s for ip, (s, _) in statuses(data).items()} ==
                          {"127.0.0.1": "UP", "198.51.100.7": "DOWN"}, timeout=5)


def factory_lines(logged) -> list[str]:
    from twisted.logger import formatEvent
    return [line for line in map(formatEvent, logged.events) if "ing factory" in line]


def probed(srv) -> float:
    return metric(srv, "skydns_scanner_probes_total")


def tick(srv, times=1):
    """Move the scanner's clock one interval on, ``times`` times, each time until the probes due have finished."""
    for _ in range(times):
        srv.advance(INTERVAL)
        assert eventually(lambda: metric(srv, "skydns_scanner_probes_inflight") == 0)


def test_bad_health_field_is_skipped_with_a_warning(tmp_path, data):
    data.put("x1.db.skydns.local", {"host": "127.0.1.4", "port": 1, "health": {"type": "gopher"}})
    data.put("x2.db.skydns.local", {"host": "127.0.1.9", "health": False})
    with Logged() as logged, testing.serve(corefile(data), tmp_path, clock=task.Clock()) as srv:
        assert eventually(lambda: any("health field not used (unknown type 'gopher'" in line and
                                      data.key("x1.db.skydns.local") in line
                                      for line in logged.warnings("skydns.plugin.scanner")))
        tick(srv, 3)  # three intervals on the scanner's clock
        assert addrs(srv) == ["127.0.1.4", "127.0.1.9"]  # served, not probed, no key
        assert probed(srv) == 0 and statuses(data) == {}


def test_keys_written_only_on_change_under_the_lease(tmp_path, data):
    svc = TCPService("127.0.1.5")
    data.put("x1.db.skydns.local", {"host": "127.0.1.5", "port": svc.port})
    mport = testing.free_port()
    text = corefile(data).replace(" scanner {", f" prometheus 127.0.0.1:{mport}\n scanner {{")
    with testing.serve(text, tmp_path, clock=task.Clock()) as srv:
        assert eventually(lambda: tick(srv) or "127.0.1.5" in statuses(data))
        written = metric(srv, "skydns_scanner_writes")
        before = probed(srv)
        with Logged() as logged:
            tick(srv, 10)
        assert not factory_lines(logged)  # ten TCP probes, no "Starting factory" lines
        assert metric(srv, "skydns_scanner_writes") == written and probed(srv) == before + 10  # nothing to write
        lease = data.client.get(f"{data.path}/monitor/status/127.0.1.5")[1].lease_id
        assert lease != 0 and data.client.get_lease_info(lease).grantedTTL == 2  # the scanner's lease 2s
        svc.stop()
        assert eventually(lambda: tick(srv) or statuses(data)["127.0.1.5"][0] == "DOWN")
        # counted once the thread reports back
        assert eventually(lambda: metric(srv, "skydns_scanner_writes") == written + 1)
        tick(srv, 5)
        assert metric(srv, "skydns_scanner_writes") == written + 1  # one write for the change, none after
        samples = scrape(mport)
        assert value(samples, "skydns_scanner_state_changes_total", scanner="s1", to="down") == 1
        assert value(samples, "skydns_scanner_addresses_owned", scanner="s1") == 1
    # stopped: the lease is revoked, the keys go at once (answers fail open)
    assert eventually(lambda: statuses(data) == {}, timeout=3)


def test_unreachable_etcd_keeps_the_state_and_retries(tmp_path, data):
    """Writes that etcd does not take are kept and retried; the answers keep the last state meanwhile."""
    from helpers import Proxy

    svc = TCPService("127.0.1.6")
    data.put("x1.db.skydns.local", {"host": "127.0.1.6", "port": svc.port})
    data.put("x2.db.skydns.local", {"host": "127.0.1.7", "health": False})
    proxy = Proxy(int(data.server.url.rsplit(":", 1)[1]))
    text = corefile(data).replace(f"endpoint {data.server.url}", f"endpoint {proxy.url}")
    with testing.serve(text, tmp_path) as srv:
        assert eventually(lambda: statuses(data).get("127.0.1.6", ("",))[0] == "UP")
        proxy.block()
        svc.stop()
        assert eventually(lambda: metric(srv, "skydns_scanner_write_errors") > 0, timeout=15)
        assert statuses(data)["127.0.1.6"][0] == "UP"  # not written while etcd is away
        assert addrs(srv) == ["127.0.1.6", "127.0.1.7"]  # the copy keeps the last state
        proxy.unblock()
        assert eventually(lambda: statuses(data)["127.0.1.6"][0] == "DOWN", timeout=15)
        assert eventually(lambda: addrs(srv) == ["127.0.1.7"], timeout=15)
    proxy.close()


def test_reload_keeps_the_scanner_and_its_lease(tmp_path, data):
    svc = TCPService("127.0.1.8")
    data.put("x1.db.skydns.local", {"host": "127.0.1.8", "port": svc.port})
    with testing.serve(corefile(data), tmp_path) as srv:
        assert eventually(lambda: "127.0.1.8" in statuses(data))
        lease = statuses(data)["127.0.1.8"][1]
        changes = metric(srv, "skydns_scanner_state_changes_total")
        srv.write(corefile(data).replace("rise 2", "rise 3"))
        assert srv.reload()
        assert metric(srv, "skydns_scanner_rise") == 3  # the new options, in the same scanner:
        assert metric(srv, "skydns_scanner_state_changes_total") == changes  # its counters kept
        svc.stop()
        assert eventually(lambda: statuses(data)["127.0.1.8"] == ("DOWN", lease))  # and its lease


@pytest.mark.parametrize("text, message", [
    ("skydns.local:0 {{\n etcd {{\n  path {path}\n  endpoint {url}\n }}\n scanner\n}}\n",
     "needs the etcd plugin with 'monitor'"),
    ("skydns.local:0 {{\n etcd {{\n  path {path}\n  endpoint {url}\n  monitor\n }}\n scanner {{\n  lease 1.5s\n }}\n}}\n",
     "lease must be whole seconds"),
    ("skydns.local:0 {{\n etcd {{\n  path {path}\n  endpoint {url}\n  monitor\n }}\n scanner {{\n"
     "  interval 1s\n  timeout 2s\n }}\n}}\n", "timeout is longer than interval"),
    ("skydns.local:0 {{\n etcd {{\n  path {path}\n  endpoint {url}\n  monitor\n }}\n scanner {{\n  bogus 1\n }}\n}}\n",
     "unknown property 'bogus'"),
])
def test_bad_scanner_configuration(tmp_path, data, text, message):
    from skydns.config.errors import CorefileError

    with pytest.raises(CorefileError, match=message):
        testing.start(text.format(path=data.path, url=data.server.url), tmp_path)


@pytest.mark.parametrize("health, port, expected", [
    (None, 80, ("tcp", 80)),
    (None, 0, ("icmp", 0)),
    (False, 80, None),
    ({"type": "none"}, 80, None),
    ({"type": "http", "port": 8080, "path": "/ok", "status": 204}, 0, ("http", 8080)),
    ({"TYPE": "https"}, 443, ("https", 443)),
    ({"type": "tcp", "port": 22, "interval": "5s", "rise": 1}, 80, ("tcp", 22)),
])
def test_health_field(health, port, expected):
    from skydns.plugin.scanner import spec

    found = spec.read(health, port, spec.Timing(), icmp=True)
    assert (None if found is None else (found[0].type, found[0].port)) == expected


@pytest.mark.parametrize("health, words", [
    ({"type": "gopher"}, "unknown type 'gopher'"),
    ({"type": "tcp", "port": 0}, "needs a port"),
    ({"type": "http", "path": "healthz"}, "path must be a string starting with '/'"),
    ({"type": "http", "status": 700}, "status must be an integer from 100 to 599"),
    ({"interval": "soon"}, "interval 'soon' is not a duration"),
    ({"fall": 0}, "fall must be an integer from 1 to 100"),
    ({"colour": "red"}, "unknown field 'colour'"),
    ("yes", "expected an object or false"),
])
def test_bad_health_fields(health, words):
    from skydns.plugin.scanner import spec

    with pytest.raises(spec.BadHealth, match=words):
        spec.read(health, 80, spec.Timing(), icmp=True)
    with pytest.raises(spec.BadHealth, match="unprivileged ping"):
        spec.read({"type": "icmp"}, 0, spec.Timing(), icmp=False)


def test_ipv6_addresses_and_the_inflight_bound(tmp_path, data):
    """IPv6 hosts are probed like IPv4 ones; probes that hang (an address that never answers) stay within
    max_inflight, and the other addresses are still probed meanwhile."""
    import socket
    import threading

    v6 = TCPService("::1")
    data.put("x0.db.skydns.local", {"host": "::1", "port": v6.port})
    hang = socket.socket()
    hang.bind(("0.0.0.0", 0))  # every loopback address
    hang.listen(64)
    held = []
    threading.Thread(target=lambda: [held.append(hang.accept()) for _ in iter(int, 1)], daemon=True).start()
    for i in range(6):  # HTTP checks of a server that accepts and never answers: each probe runs to its timeout
        data.put(f"h{i}.db.skydns.local", {"host": f"127.0.1.{20 + i}", "health": {
            "type": "http", "port": hang.getsockname()[1]}})
    text = corefile(data, "  max_inflight 2\n").replace("timeout 150ms", "timeout 190ms")
    with testing.serve(text, tmp_path, clock=task.Clock()) as srv:
        assert eventually(lambda: metric(srv, "skydns_scanner_addresses_owned") == 7)
        before = probed(srv)
        srv.advance(10 * INTERVAL)  # every probe is due at once: two start, the bound holds
        now = srv.metrics()  # one reading: probes finished since, and those still running
        started = sum(v for (name, *_), v in now.items() if name == "skydns_scanner_probes_total") - before + \
            sum(v for (name, *_), v in now.items() if name == "skydns_scanner_probes_inflight")
        assert started == 2
        assert eventually(lambda: srv.advance(INTERVAL) or statuses(data).get("::1", ("",))[0] == "UP")
        v6.stop()
        assert eventually(lambda: srv.advance(INTERVAL) or statuses(data)["::1"][0] == "DOWN", timeout=8)


# -- what a record writer can make the scanner do (issue 27) ---------------------------------------------------

@pytest.mark.parametrize("health, words", [
    ({"interval": 1e-9}, "interval must be at least 1s and at most 3600s"),
    ({"interval": "0.02s"}, "interval must be at least 1s"),
    ({"interval": "2h"}, "at most 3600s"),
    ({"interval": float("nan")}, "interval must be"),
    ({"timeout": "100000h"}, "timeout must be above 0s and at most 30s"),
    ({"interval": "5s", "timeout": "5s"}, "timeout 5s must be below the interval 5s"),
    ({"interval": "1s"}, "timeout 2s must be below the interval 1s"),  # the scanner's own 2 s timeout
    ({"type": "http", "path": "/x\r\nHost: evil"}, "without spaces or line breaks"),
])
def test_a_record_asks_for_no_more_than_the_bounds(health, words):
    """A service's health field is bounded where it is read: a check at most once a second, a timeout below the
    interval and at most 30 s, a plain path."""
    from skydns.plugin.scanner import spec

    with pytest.raises(spec.BadHealth, match=words):
        spec.read(health, 80, spec.Timing(), icmp=True)


def test_the_scheduler_ends_each_tick_whatever_the_times():
    """Even a check whose interval vanishes next to the time (1e-9 s: due + interval == due) is looked at once a
    tick: the tick returns (it once looped for ever, and the reactor with it)."""
    import threading

    from skydns.clients import probes
    from skydns.plugin.scanner import spec
    from skydns.plugin.scanner.scanner import Check, Options, Scanner

    clock = task.Clock()
    clock.advance(1e9)
    scanner = Scanner(clock, FakeSource(), Options(), clock)
    for owned in (False, True):
        c = Check("192.0.2.1", probes.Probe("tcp", 80), spec.Timing(interval=1e-9), "/k", True, clock.seconds())
        c.running = owned  # owned and still running: rescheduled too
        scanner.owned = {"192.0.2.1"} if owned else set()
        scanner.heap = [(c.due, 0, c)]
        ticking = threading.Thread(target=scanner._tick, daemon=True)
        ticking.start()
        ticking.join(2)
        assert not ticking.is_alive() and len(scanner.heap) == 1


class FakeSource:
    """The parts of IMonitoredSource a scanner reads when it is made."""

    connection = None
    status_prefix = "/status"


def test_a_record_writer_cannot_stall_the_server_or_flood_an_address(tmp_path, data):
    """Records asking for a check every nanosecond, a timeout of 100,000 hours, or ten checks of one address:
    each is skipped or capped with a warning naming its key, and the server goes on answering."""
    data.put("x1.db.skydns.local", {"host": "127.0.1.30", "port": 1, "health": {"interval": 1e-9}})
    data.put("x2.db.skydns.local", {"host": "127.0.1.31", "port": 1, "health": {"timeout": "100000h",
                                                                               "interval": "1h"}})
    for i in range(10):
        data.put(f"p{i}.web.skydns.local", {"host": "127.0.1.32", "port": 1000 + i})
    with Logged() as logged, testing.serve(corefile(data), tmp_path, clock=task.Clock()) as srv:
        def warned(key, words):
            return any(data.key(key) in line and words in line for line in logged.warnings("skydns.plugin.scanner"))

        assert eventually(lambda: warned("x1.db.skydns.local", "interval must be at least 1s"))
        assert warned("x2.db.skydns.local", "timeout must be above 0s and at most 30s")
        assert sum(warned(f"p{i}.web.skydns.local", "127.0.1.32 has 4 checks already") for i in range(10)) == 6
        assert metric(srv, "skydns_scanner_checks") == 4
        srv.advance(5)  # probes due, nothing hangs
        assert addrs(srv) == ["127.0.1.30", "127.0.1.31"]  # answered as ever
