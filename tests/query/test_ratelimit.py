"""Response rate limiting on the bytes: buckets by kind, slip, the window, exemptions, a bounded table."""
import ipaddress

import dns.flags
import dns.message
import dns.rcode
import dns.rrset

from skydns.query.ratelimit import Limiter, RRLConfig, slipped


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def reply(name="www.example.org.", rcode=0, answer=True, soa="example.org."):
    r = dns.message.make_response(dns.message.make_query(name, "A"))
    r.set_rcode(rcode)
    if answer and rcode == 0:
        r.answer.append(dns.rrset.from_text(name, 60, "IN", "A", "192.0.2.1"))
    if rcode == dns.rcode.NXDOMAIN:
        r.authority.append(dns.rrset.from_text(soa, 60, "IN", "SOA", f"ns.{soa} h.{soa} 1 2 3 4 5"))
    return r.to_wire()


def run(limiter, data, host="192.0.2.1", n=1):
    return [limiter.check(data, host) for _ in range(n)]


def test_rate_then_drop_and_slip_then_refill():
    clock = Clock()
    lim = Limiter(RRLConfig(responses=5, slip=2, window=2), clock)
    assert run(lim, reply(), n=5) == [Limiter.SEND] * 5
    assert run(lim, reply(), n=4) == [Limiter.DROP, Limiter.SLIP, Limiter.DROP, Limiter.SLIP]
    clock.now += 0.2  # one more reply's worth... but the balance is below zero
    assert run(lim, reply()) == [Limiter.DROP]
    clock.now += 10  # back to full, at most one second's worth
    assert run(lim, reply(), n=6) == [Limiter.SEND] * 5 + [Limiter.SLIP]  # the count of drops went on
    assert lim.counts[("responses", "slipped")] == 3 and lim.counts[("responses", "dropped")] == 3


def test_window_keeps_a_flood_limited():
    clock = Clock()
    lim = Limiter(RRLConfig(responses=10, slip=0, window=3), clock)
    for _ in range(100):
        clock.now += 0.01  # 100 replies a second: ten times the rate
        lim.check(reply(), "192.0.2.1")
    clock.now += 1.0  # a pause of one second does not clear a debt of three seconds' worth
    assert run(lim, reply()) == [Limiter.DROP]
    clock.now += 3.0
    assert run(lim, reply()) == [Limiter.SEND]


def test_buckets_by_kind_network_name_and_zone():
    clock = Clock()
    lim = Limiter(RRLConfig(responses=2, nxdomains=1, errors=1, slip=0), clock)
    assert run(lim, reply(), n=3) == [0, 0, 1]
    assert run(lim, reply("other.example.org."), n=2) == [0, 0]  # another name: another bucket
    assert run(lim, reply(), host="192.0.2.200") == [1]  # same /24: same bucket
    assert run(lim, reply(), host="192.0.3.1") == [0]  # another network
    # NXDOMAIN: one bucket per zone, whatever the random name
    assert run(lim, reply("a1.example.org.", 3)) == [0]
    assert run(lim, reply("b2.example.org.", 3)) == [1]
    assert run(lim, reply("c3.example.net.", 3, soa="example.net.")) == [0]
    # errors: one bucket per network, whatever the name
    assert run(lim, reply("x.example.org.", dns.rcode.REFUSED)) == [0]
    assert run(lim, reply("y.example.com.", dns.rcode.SERVFAIL)) == [1]
    # NODATA is its own kind
    assert run(lim, reply("www.example.org.", 0, answer=False), n=2) == [0, 0]


def test_names_differ_only_in_case_share_a_bucket_and_ipv6_prefix():
    lim = Limiter(RRLConfig(responses=1, slip=0), Clock())
    assert run(lim, reply("WWW.Example.org."), host="2001:db8::1") == [0]
    assert run(lim, reply("www.example.org."), host="2001:db8:0:ff::2") == [1]  # same /56
    assert run(lim, reply("www.example.org."), host="2001:db8:0:100::2") == [0]  # another /56
    assert run(lim, reply(), host="::ffff:192.0.2.1") == [0]
    assert run(lim, reply(), host="192.0.2.9") == [1]  # the mapped address is the same network


def test_exempt_report_only_and_unlimited_kinds():
    lim = Limiter(RRLConfig(responses=1, exempt=(ipaddress.ip_network("10.0.0.0/8"),), errors=0), Clock())
    assert run(lim, reply(), host="10.1.2.3", n=5) == [0] * 5
    assert run(lim, reply(rcode=dns.rcode.REFUSED), n=5) == [0] * 5  # errors-per-second 0: unlimited
    report = Limiter(RRLConfig(responses=1, report_only=True), Clock())
    assert run(report, reply(), n=3) == [0] * 3 and report.counts[("responses", "reported")] == 2


def test_table_is_bounded():
    clock = Clock()
    lim = Limiter(RRLConfig(responses=1, max_table_size=100), clock)
    for i in range(1000):
        lim.check(reply(f"n{i}.example.org."), "192.0.2.1")
        assert lim.size <= 100


def test_slipped_replies():
    data = reply()
    t = dns.message.from_wire(slipped(data))
    assert t.flags & dns.flags.TC and not t.answer and t.id == dns.message.from_wire(data).id
    b = dns.message.from_wire(slipped(data, b"\x00\x0a\x00\x08" + b"c" * 8))
    assert b.rcode() == dns.rcode.BADCOOKIE and not b.flags & dns.flags.TC and b.options[0].to_wire() == b"c" * 8
