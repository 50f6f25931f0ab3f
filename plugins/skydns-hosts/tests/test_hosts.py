"""hosts, installed as a distribution and tested with skydns's test kit (skydns.testing)."""
import importlib.metadata
import subprocess
import sys

import dns.rcode
import pytest

from skydns import testing
from skydns.interfaces import IReadiness

INLINE = "  10.0.0.1 web.example.org web\n  2001:db8::1 web.example.org\n  10.0.0.2 *.apps.example.org\n"


def harness(body: str) -> testing.Harness:
    return testing.Harness(f"example.org in-addr.arpa ip6.arpa {{\n{body}\n whoami\n}}\n")


def test_entry_points_are_installed():
    assert "hosts" in [ep.name for ep in importlib.metadata.entry_points(group="skydns.plugins")]
    assert "hosts" in [ep.name for ep in importlib.metadata.entry_points(group="skydns.commands")]


def test_inline_entries_answer_a_aaaa_and_ptr():
    """A and AAAA of a name, PTR of its address (first name), a wildcard's one label, NODATA for other
    types, NXDOMAIN for unknown names: answers built by skydns's shared answer builder."""
    h = harness(f" hosts {{\n{INLINE}  ttl 60\n }}")
    assert testing.rrsets(h.ask("WEB.example.org.", "A")) == ["WEB.example.org. 60 IN A 10.0.0.1"]
    assert testing.rrsets(h.ask("web.example.org.", "AAAA")) == ["web.example.org. 60 IN AAAA 2001:db8::1"]
    assert testing.rrsets(h.ask("1.0.0.10.in-addr.arpa.", "PTR")) == \
        ["1.0.0.10.in-addr.arpa. 60 IN PTR web.example.org."]
    assert testing.rrsets(h.ask("x.apps.example.org.", "A")) == ["x.apps.example.org. 60 IN A 10.0.0.2"]
    nodata = h.ask("web.example.org.", "MX")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority
    assert h.ask("nope.example.org.", "A").rcode() == dns.rcode.NXDOMAIN
    assert h.ask("y.x.apps.example.org.", "A").rcode() == dns.rcode.NXDOMAIN  # a wildcard matches one label


def test_fallthrough_and_unknown_ptr_go_on():
    h = harness(f" hosts {{\n{INLINE}  fallthrough\n }}")
    assert h.ask("nope.example.org.", "A").additional  # whoami answered
    assert h.ask("9.9.9.10.in-addr.arpa.", "PTR").additional  # no PTR here: the rest of the chain


def test_no_reverse():
    h = harness(f" hosts {{\n{INLINE}  no_reverse\n }}")
    assert h.ask("1.0.0.10.in-addr.arpa.", "PTR").additional  # whoami: no PTR from hosts


@pytest.mark.parametrize("body, error", [
    (" hosts {\n  ttl x\n }", "Corefile:3 - plugin/hosts: 'x' is not ttl"),
    (" hosts {\n  300.1.1.1 a\n }", "Corefile:3 - plugin/hosts: '300.1.1.1 a' is neither a property"),
    (" hosts {\n  no_reverse please\n }", "Corefile:3 - plugin/hosts: wrong argument count"),
    (" hosts\n hosts", "Corefile:3 - plugin/hosts: this plugin can only be used once per server block"),
])
def test_corefile_errors_name_file_and_line(body, error):
    assert testing.error(f"example.org {{\n{body}\n}}\n").startswith(error)


def test_file_reloaded_and_the_cache_follows(tmp_path):
    """A file beside the Corefile, re-read when it changes (on the test's clock): the cache in front drops
    what it kept at once (hosts is a record source it follows), the metric counts the entries, and /ready
    says when the file cannot be read."""
    from twisted.internet import task

    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 web.example.org\n")
    clock = task.Clock()
    text = "example.org:0 {\n cache 300\n hosts hosts {\n  reload 5s\n }\n}\n"
    with testing.serve(text, tmp_path, clock=clock) as srv:
        assert testing.rrsets(srv.query("web.example.org.", "A")) == ["web.example.org. 300 IN A 10.0.0.1"]
        hosts.write_text("10.0.0.9 web.example.org\n10.0.0.10 db.example.org\n")
        srv.advance(5)
        assert testing.eventually(lambda: testing.rrsets(srv.query("web.example.org.", "A")) ==
                          ["web.example.org. 300 IN A 10.0.0.9"])
        assert srv.metrics()[("skydns_hosts_entries", ("server", "example.org:0"))] == 2
        (source,) = srv.find(IReadiness)
        assert testing.call(source.ready) is None
        hosts.unlink()
        srv.advance(5)
        assert testing.eventually(lambda: testing.call(source.ready) == f"cannot read {hosts}")


def test_the_command_prints_entries_and_bad_lines(tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 web.example.org web\nnot-an-address x\n")
    out = subprocess.run([sys.executable, "-m", "skydns.cli.tap", "hosts", str(hosts)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 1
    assert out.stdout.splitlines() == ["web. 10.0.0.1", "web.example.org. 10.0.0.1"]
    assert out.stderr.strip() == f"{hosts}:2: 'not-an-address' is not an IP address"
