"""rewrite, installed as a distribution and tested with skydns's test kit (skydns.testing)."""
import importlib.metadata

import dns.rcode
import pytest

from skydns import testing
from skydns.interfaces import IMetrics

ZONE = ("records example.org {\n  web 60 IN A 10.0.0.1\n  a.svc 60 IN A 10.0.0.2\n  b.eu 60 IN A 10.0.0.3\n"
        "  alias 60 IN CNAME web\n }\n")


def registry():
    """The installed plugins (rewrite among them, through its entry point) and the kit's fixed records."""
    return testing.registry(testing.RecordsSetup())


def harness(rules: str, cache: bool = True) -> testing.Harness:
    return testing.Harness(f"example.org {{\n{rules}\n{' cache' if cache else ''}\n {ZONE}}}\n", registry())


def rewrite_of(h):
    (handler,) = [p for p in h.find(IMetrics) if type(p).__name__ == "Rewrite"]
    return handler


def test_entry_point_is_installed():
    assert "rewrite" in [ep.name for ep in importlib.metadata.entry_points(group="skydns.plugins")]


def test_exact_gives_the_clients_name_back_and_the_cache_keeps_the_rewritten_one():
    """www is answered with web's address, owned by www as the client spelled it; the cache holds one
    entry, web's, whichever name was asked, and repeats are raw-path hits that never reach rewrite's serve."""
    h = harness(" rewrite name exact www.example.org. web.example.org.")
    calls = testing.count_serves(rewrite_of(h))
    first = h.ask("WWW.example.org.", "A")
    assert first.rcode() == dns.rcode.NOERROR
    assert testing.rrsets(first) == ["WWW.example.org. 60 IN A 10.0.0.1"]
    assert first.question[0].name.to_text() == "WWW.example.org."
    again = h.ask("WWW.example.org.", "A")
    assert testing.rrsets(again) == testing.rrsets(first) and calls == ["www.example.org."]
    assert testing.rrsets(h.ask("web.example.org.", "A")) == ["web.example.org. 60 IN A 10.0.0.1"]
    entries = {name: value for name, value in _samples(h) if name == "skydns_cache_entries"}
    assert entries == {"skydns_cache_entries": 1}  # web only: the same answer for both names
    assert dict(_samples(h))["skydns_rewrite_rewrites_total"] == 2


def _samples(h):
    return [(s.name, s.value) for p in h.find(IMetrics) for f in p.collect("skydns_") for s in f.samples
            if s.labels.get("type", "success") == "success"]


def test_suffix_with_answer_auto_and_a_cname_chain():
    """A suffix rule with answer auto: the question and every owner under the new suffix come back under
    the client's suffix; without the cache too."""
    h = harness(" rewrite name suffix .internal.example.org. .svc.example.org. answer auto", cache=False)
    r = h.ask("a.internal.example.org.", "A")
    assert testing.rrsets(r) == ["a.internal.example.org. 60 IN A 10.0.0.2"]


def test_regex_with_answer_name():
    h = harness(" rewrite stop {\n  name regex (.*)-(eu|us)\\.example\\.org {1}.{2}.example.org\n"
                "  answer name (.*)\\.(eu|us)\\.example\\.org {1}-{2}.example.org\n }")
    r = h.ask("b-eu.example.org.", "A")
    assert r.question[0].name.to_text() == "b-eu.example.org."
    assert testing.rrsets(r) == ["b-eu.example.org. 60 IN A 10.0.0.3"]
    assert h.ask("nomatch.example.org.", "A").rcode() == dns.rcode.NXDOMAIN  # passed on, not rewritten


def test_prefix_rule_without_answer_leaves_other_owners():
    """Not exact and no answer option: the question is the client's, the records keep their names
    (CoreDNS's behaviour), here a CNAME chain."""
    h = harness(" rewrite name prefix www. alias.", cache=False)
    r = h.ask("www.example.org.", "A")
    assert r.question[0].name.to_text() == "www.example.org."
    assert testing.rrsets(r) == ["alias.example.org. 60 IN CNAME web.example.org."]


@pytest.mark.parametrize("rule, error", [
    ("rewrite name", "Corefile:2 - plugin/rewrite: wrong argument count or unexpected line ending after 'name'"),
    ("rewrite type A AAAA", "Corefile:2 - plugin/rewrite: unknown field 'type' (this rewrite rewrites name)"),
    ("rewrite name fuzzy a b", "Corefile:2 - plugin/rewrite: unknown options 'b'"),
    ("rewrite name regex ( b", "Corefile:2 - plugin/rewrite: bad regex '('"),
    ("rewrite name exact a b answer sometimes", "Corefile:2 - plugin/rewrite: unknown options 'answer sometimes'"),
    ("rewrite {\n  answer name a b\n }", "Corefile:3 - plugin/rewrite: answer name FROM TO follows a name rule"),
])
def test_corefile_errors_name_file_and_line(rule, error):
    assert testing.error(f"example.org {{\n {rule}\n {ZONE}}}\n", registry()).startswith(error)


def test_with_etcd_a_real_server_and_the_log(tmp_path, etcd_data):
    """On a real server with etcd behind the cache: dnspython over UDP, and the log's metadata."""
    from twisted.logger import formatEvent, globalLogPublisher

    etcd_data.put("web.skydns.local", {"host": "10.1.1.1"})
    text = etcd_data.block().replace(" etcd {", ' log . "{name} {/rewrite/original} {/rewrite/name}"\n'
                                                 " rewrite name exact www.skydns.local. web.skydns.local.\n"
                                                 " cache\n etcd {")
    events = []
    globalLogPublisher.addObserver(events.append)
    try:
        with testing.serve(text, tmp_path) as srv:
            r = srv.query("www.skydns.local.", "A")
            assert testing.rrsets(r) == ["www.skydns.local. 3600 IN A 10.1.1.1"]
            r = srv.query("www.skydns.local.", "A")  # from the cache's raw path
            assert testing.rrsets(r)[0].endswith("IN A 10.1.1.1") and r.answer[0].name.to_text() == "www.skydns.local."
    finally:
        globalLogPublisher.removeObserver(events.append)
    lines = [line for e in events if e.get("log_namespace") == "skydns.plugin.log"
             for line in formatEvent(e).splitlines()]
    assert lines[0] == "www.skydns.local. www.skydns.local. web.skydns.local."
