"""dns64, installed as a distribution and used from a Corefile through its entry point.

Real servers on loopback (IPv6 and IPv4 clients), records from skydns.testing's
``records`` plugin behind it, its metric through ``prometheus`` and its
readiness through ``ready``; the probe's retries with a fake clock.
"""
import importlib.metadata
import ipaddress
import urllib.error
import urllib.request

import dns.rcode
import dns.rdatatype
import pytest
from twisted.internet import task

from skydns import config, testing
from skydns.config.errors import CorefileError
from skydns_dns64 import prefix as prefixes
from skydns_dns64.dns64 import Probe

RECORDS = """ records example.org {
  v4only 300 IN A 192.0.2.33
  v4only 300 IN A 192.0.2.34
  both 300 IN A 192.0.2.1
  both 300 IN AAAA 2001:db8::1
 }
"""


def corefile(dns64="dns64", extra=""):
    return f"example.org:0 {{\n {dns64}\n{extra}{RECORDS}}}\n"


def serve(tmp_path, text):
    return testing.serve(text, tmp_path, testing.registry(testing.RecordsSetup()))


def aaaa(reply):
    return sorted(rd.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.AAAA for rd in rrset)


def test_entry_point_is_installed_and_placed():
    """The distribution registers 'dns64', placed before 'any' (where CoreDNS has it)."""
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="skydns.plugins")}
    assert eps["dns64"].load().position == ("before", "any")


@pytest.mark.parametrize("net, expected", [
    ("2001:db8::/32", "2001:db8:c000:221::"),
    ("2001:db8:100::/40", "2001:db8:1c0:2:21::"),
    ("2001:db8:122::/48", "2001:db8:122:c000:2:2100::"),
    ("2001:db8:122:300::/56", "2001:db8:122:3c0:0:221::"),
    ("2001:db8:122:344::/64", "2001:db8:122:344:c0:2:2100:0"),
    ("2001:db8:122:344::/96", "2001:db8:122:344::c000:221"),
])
def test_embedding_matches_rfc6052_examples(net, expected):
    """192.0.2.33 under each prefix length, as RFC 6052 section 2.4 writes it."""
    v6 = prefixes.embed(prefixes.parse(net), ipaddress.IPv4Address("192.0.2.33").packed)
    assert ipaddress.IPv6Address(v6) == ipaddress.IPv6Address(expected)


@pytest.mark.parametrize("text, error", [
    ("dns64 2001:db8::/50", "prefix length of '2001:db8::/50' must be one of 32, 40, 48, 56, 64, 96"),
    ("dns64 2001:db8:0:0:ff00::/96", "bits 64 to 71 of '2001:db8:0:0:ff00::/96' must be zero"),
    ("dns64 10.0.0.0/8", "'10.0.0.0/8' is not an IPv6 prefix"),
    ("dns64 64:ff9b::/96 {\n  prefix 2001:db8::/96\n }", "the prefix is given twice"),
    ("dns64 {\n  translate_al\n }", "unknown property 'translate_al'"),
    ("dns64 {\n  probe\n }", "wrong argument count"),
])
def test_bad_configuration_names_the_line(tmp_path, text, error):
    """Mistakes are refused at start-up with file, line and what is wrong."""
    path = tmp_path / "Corefile"
    path.write_text(corefile(text))
    with pytest.raises(CorefileError, match="Corefile:[23] - plugin/dns64: .*" + error.replace("(", r"\(")):
        config.load(str(path), testing.registry(testing.RecordsSetup()))


def test_synthesizes_for_ipv6_clients_from_a_records(tmp_path):
    """AAAA for an A-only name from an IPv6 client: each address under the prefix, TTL capped by the SOA."""
    with serve(tmp_path, corefile()) as srv:
        r = srv.query("V4only.Example.org.", "AAAA", host="::1")
        assert r.rcode() == dns.rcode.NOERROR
        assert aaaa(r) == ["64:ff9b::c000:221", "64:ff9b::c000:222"]
        assert r.answer[0].name.to_text() == "V4only.Example.org."  # the client's spelling
        assert r.answer[0].ttl == 60  # min(A 300, SOA 60): RFC 6147 5.1.7
        assert not r.flags & dns.flags.AA
        # A name with its own AAAA keeps it; NXDOMAIN stays NXDOMAIN; other types pass.
        assert aaaa(srv.query("both.example.org.", "AAAA", host="::1")) == ["2001:db8::1"]
        assert srv.query("nope.example.org.", "AAAA", host="::1").rcode() == dns.rcode.NXDOMAIN
        r = srv.query("v4only.example.org.", "A", host="::1")
        assert sorted(rd.address for rd in r.answer[0]) == ["192.0.2.33", "192.0.2.34"]


def test_ipv4_clients_only_with_allow_ipv4(tmp_path):
    """Over IPv4 the real answer (NODATA) is kept, unless allow_ipv4 is given."""
    with serve(tmp_path, corefile()) as srv:
        r = srv.query("v4only.example.org.", "AAAA", host="127.0.0.1")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer and r.authority
    with serve(tmp_path, corefile("dns64 2001:db8:64::/96 {\n  allow_ipv4\n }")) as srv:
        r = srv.query("v4only.example.org.", "AAAA", host="127.0.0.1")
        assert aaaa(r) == ["2001:db8:64::c000:221", "2001:db8:64::c000:222"]


def test_translate_all_replaces_real_aaaa(tmp_path):
    """translate_all synthesizes even for names with AAAA records."""
    with serve(tmp_path, corefile("dns64 {\n  translate_all\n }")) as srv:
        assert aaaa(srv.query("both.example.org.", "AAAA", host="::1")) == ["64:ff9b::c000:201"]


def test_metric_counts_translations(tmp_path):
    """dns64_requests_translated_total{server} counts synthesized answers, served by prometheus."""
    port = testing.free_port()
    text = corefile(extra=f" prometheus 127.0.0.1:{port}\n")
    with serve(tmp_path, text) as srv:
        for _ in range(3):
            srv.query("v4only.example.org.", "AAAA", host="::1")
        srv.query("both.example.org.", "AAAA", host="::1")  # not translated
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'skydns_dns64_requests_translated_total{server="example.org:0"} 3.0' in body


def ready(port):
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5).read().decode()
    except urllib.error.HTTPError as e:
        return f"{e.code} {e.read().decode()}"


def test_readiness_with_probe(tmp_path):
    """With probe NAME, dns64 is not ready until NAME has an A record (/ready names it, its readiness says why);
    without a probe, dns64 is ready."""
    from skydns.interfaces import IReadiness

    port = testing.free_port()
    missing = corefile("dns64 {\n  probe absent.example.org 100ms\n }", f" ready 127.0.0.1:{port}\n")
    with serve(tmp_path, missing) as srv:
        assert ready(port) == "503 example.org:0: plugin/dns64: not ready\n"
        (probe,) = srv.find(IReadiness)
        assert testing.call(probe.ready) == ("no A record for absent.example.org. through the server yet "
                                             "(answered NXDOMAIN without an A record)")
    port = testing.free_port()  # a port given up is never bound again (another process may have taken it)
    with serve(tmp_path, corefile("dns64 {\n  probe v4only.example.org\n }", f" ready 127.0.0.1:{port}\n")):
        assert ready(port) == "OK"


class FakeUpstream:
    """Answers the probe's lookups from a list: an exception, or a message."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.asked = 0

    def lookup(self, name, qtype, parent=None):
        self.asked += 1
        found = self.answers.pop(0)
        if isinstance(found, Exception):
            raise found
        return found


def a_reply(name, address=None):
    q = dns.message.make_query(name, "A")
    r = dns.message.make_response(q)
    if address is None:
        r.set_rcode(dns.rcode.NXDOMAIN)
    else:
        r.answer.append(dns.rrset.from_text(name, 60, "IN", "A", address))
    return r


def test_probe_retries_every_interval_until_an_address_comes():
    """The probe asks at start, again each interval while it fails, and not after it succeeded."""
    clock = task.Clock()
    up = FakeUpstream([ValueError("no block serves it"), a_reply("gw.example.org."),
                       a_reply("gw.example.org.", "192.0.2.9")])
    probe = Probe(up, "gw.example.org.", 2.0, clock)
    probe.start()
    assert up.asked == 1 and "no block serves it" in probe.ready()
    clock.advance(1.9)
    assert up.asked == 1
    clock.advance(0.1)
    assert up.asked == 2 and "answered NXDOMAIN" in probe.ready()
    clock.advance(2.0)
    assert up.asked == 3 and probe.ready() is None
    clock.advance(60)
    assert up.asked == 3 and not clock.getDelayedCalls()


def test_probe_stops_with_its_configuration():
    """A retired configuration's probe asks no more."""
    clock = task.Clock()
    probe = Probe(FakeUpstream([ValueError("down")] * 3), "gw.example.org.", 1.0, clock)
    probe.start()
    probe.stop()
    assert not clock.getDelayedCalls()
