"""prometheus: exact counters after known queries, labels, namespace, plugin metrics, reloads."""
import urllib.error
import urllib.request

import pytest

from helpers import Logged, Upstream, eventually, fakeplugins, free_port, scrape, value
from skydns import testing


def test_counts_and_labels(tmp_path):
    """After a known sequence of queries the counters hold exactly those, labelled as CoreDNS does."""
    mport = free_port()
    reg = fakeplugins.registry()
    text = (f"example.org:0 {{\n prometheus 127.0.0.1:{mport}\n whoami\n}}\n"
            f".:0 {{\n prometheus 127.0.0.1:{mport}\n boom\n}}\n")
    with testing.serve(text, tmp_path, reg) as srv:
        for _ in range(3):
            srv.query("www.example.org.", "A")
        srv.query("www.example.org.", "AAAA", tcp=True)
        srv.query("www.example.org.", "A", host="::1")
        for _ in range(2):
            srv.query("x.other.", "MX")
        s = scrape(mport)
    req = "skydns_dns_request_count_total"
    assert value(s, req, server="example.org:0", zone="example.org.", proto="udp", family="1", type="A") == 3
    assert value(s, req, server="example.org:0", zone="example.org.", proto="tcp", family="1", type="AAAA") == 1
    assert value(s, req, server="example.org:0", zone="example.org.", proto="udp", family="2", type="A") == 1
    assert value(s, req, server=".:0", zone=".", proto="udp", family="1", type="MX") == 2
    assert value(s, "skydns_dns_error_count_total", server=".:0", zone=".", rcode="SERVFAIL") == 2
    assert value(s, "skydns_dns_request_duration_seconds_count", server="example.org:0", zone="example.org.", type="A") == 4
    assert value(s, "skydns_dns_response_size_bytes_count", server="example.org:0", zone="example.org.", proto="udp") == 4
    assert value(s, "skydns_dns_response_size_bytes_bucket", server="example.org:0", zone="example.org.", proto="udp", le="0.0") == 0
    assert value(s, "skydns_dns_response_size_bytes_bucket", server="example.org:0", zone="example.org.", proto="udp", le="100.0") == 4


def test_namespace_and_subsystem(tmp_path, monkeypatch):
    """PROMETHEUS_NAMESPACE/SUBSYSTEM name the metrics; the Corefile's properties override them."""
    mport = free_port()
    monkeypatch.setenv("PROMETHEUS_NAMESPACE", "acme")
    monkeypatch.setenv("PROMETHEUS_SUBSYSTEM", "dns1")
    with testing.serve(f".:0 {{\n prometheus 127.0.0.1:{mport}\n whoami\n}}\n", tmp_path) as srv:
        srv.query("a.", "A")
        assert any(k[0] == "acme_dns1_dns_request_count_total" for k in scrape(mport))
    mport = free_port()
    text = f".:0 {{\n prometheus 127.0.0.1:{mport} {{\n  namespace corp\n  subsystem\n }}\n whoami\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        srv.query("a.", "A")
        assert any(k[0] == "corp_dns_request_count_total" for k in scrape(mport))


def test_plugin_metrics(tmp_path, data):
    """etcd copy, forward upstream and reload figures are exported."""
    mport = free_port()
    up = Upstream()
    try:
        data.put("a.skydns.local", {"host": "10.0.0.1"})
        data.put("b.skydns.local", {"host": "10.0.0.2"})
        text = (f"skydns.local:0 {{\n prometheus 127.0.0.1:{mport}\n etcd {{\n  path {data.path}\n"
                f"  endpoint {data.server.url}\n }}\n}}\n.:0 {{\n prometheus 127.0.0.1:{mport}\n forward . {up.addr}\n}}\n")
        with testing.serve(text, tmp_path) as srv:
            srv.query("www.example.com.", "A")
            s = scrape(mport)
            assert value(s, "skydns_etcd_services", path=data.path) == 2
            assert value(s, "skydns_etcd_synced", path=data.path) == 1
            assert value(s, "skydns_etcd_revision", path=data.path) > 0
            to = f"dns://{up.addr}"
            assert value(s, "skydns_forward_requests_total", server=".:0", to=to) == 1
            assert value(s, "skydns_forward_healthy", server=".:0", to=to) == 1
            assert value(s, "skydns_reload_count_total") == 0
    finally:
        up.close()


def test_cached_replies_are_counted(tmp_path):
    """Replies the cache sends are counted like any other, and the cache's own figures are exported."""
    mport = free_port()
    text = f".:0 {{\n prometheus 127.0.0.1:{mport}\n cache\n answer 10.0.0.1\n}}\n"
    with testing.serve(text, tmp_path, fakeplugins.registry()) as srv:
        assert "replies observed by: prometheus" in srv.service.generation.describe()[0]
        for _ in range(5):
            assert srv.query("www.example.org.", "A").answer
        s = scrape(mport)
    labels = dict(server=".:0", zone=".", proto="udp", family="1", type="A")
    assert value(s, "skydns_dns_request_count_total", **labels) == 5
    assert value(s, "skydns_dns_cachemiss_count_total", server=".:0", cache="response") == 1
    assert value(s, "skydns_cache_hits_total", server=".:0") == 4
    assert value(s, "skydns_cache_entries", server=".:0", type="success") == 1


def test_etcd_watch_metrics(tmp_path, etcd, data):
    """Revision and last-event age follow etcd; a cut connection shows as a watch reconnect."""
    from helpers import Proxy
    mport = free_port()
    proxy = Proxy(etcd.port)
    try:
        data.put("a.skydns.local", {"host": "10.0.0.1"})
        text = (f"skydns.local:0 {{\n prometheus 127.0.0.1:{mport}\n etcd {{\n  path {data.path}\n"
                f"  endpoint {proxy.url}\n }}\n}}\n")
        with testing.serve(text, tmp_path) as srv:
            assert eventually(lambda: srv.query("a.skydns.local.", "A").answer)
            s = scrape(mport)
            rev = value(s, "skydns_etcd_revision", path=data.path)
            assert value(s, "skydns_etcd_watch_reconnects_total", path=data.path) == 0
            assert 0 <= value(s, "skydns_etcd_last_event_age_seconds", path=data.path) < 30
            data.put("b.skydns.local", {"host": "10.0.0.2"})
            assert eventually(lambda: value(scrape(mport), "skydns_etcd_revision", path=data.path) > rev)
            assert value(scrape(mport), "skydns_etcd_services", path=data.path) == 2
            proxy.block()
            assert eventually(lambda: value(scrape(mport), "skydns_etcd_watch_reconnects_total",
                                            path=data.path) >= 1, timeout=10)
            proxy.unblock()
            data.put("c.skydns.local", {"host": "10.0.0.3"})
            assert eventually(lambda: value(scrape(mport), "skydns_etcd_services", path=data.path) == 3, timeout=15)
    finally:
        proxy.close()


def test_dnssec_metrics(tmp_path, data):
    """Signatures made and taken from the signature cache are counted per zone."""
    from helpers import write_key
    mport = free_port()
    data.put("web.skydns.local", {"host": "10.0.0.1"})
    key = write_key(tmp_path, "skydns.local.", 13)
    text = (f"skydns.local:0 {{\n prometheus 127.0.0.1:{mport}\n dnssec {{\n  key file {key}\n }}\n"
            f" etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        srv.query("web.skydns.local.", "A", want_dnssec=True, payload=4096)
        srv.query("WEB.skydns.local.", "A", want_dnssec=True, payload=4096)  # another spelling: same RRset
        s = scrape(mport)
        labels = dict(server="skydns.local:0", zone="skydns.local.")
        assert value(s, "skydns_dnssec_signatures_made_total", **labels) >= 1
        assert value(s, "skydns_dnssec_cache_hits_total", **labels) >= 1  # the second spelling
        assert value(s, "skydns_dnssec_cache_entries", type="signature", **labels) >= 1


def test_listener_survives_reloads(tmp_path):
    """The metrics listener keeps answering through a good and a failed reload, counters kept."""
    mport = free_port()
    text = f".:0 {{\n prometheus 127.0.0.1:{mport}\n whoami\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        srv.query("a.", "A")
        srv.write(text.replace("whoami", "errors\n whoami"))
        assert srv.reload()
        srv.query("a.", "A")
        s = scrape(mport)
        assert value(s, "skydns_reload_count_total") == 1
        assert value(s, "skydns_dns_request_count_total", server=".:0", zone=".", proto="udp", family="1", type="A") == 2
        srv.write(text + "bogus\n")
        assert not srv.reload()
        s = scrape(mport)
        assert value(s, "skydns_reload_failed_count_total") == 1
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        scrape(mport)  # closed with the server (refused, or reset while closing)


def test_health_and_ready(tmp_path, etcd, data):
    """health is 200; ready is 503 naming the plugin (not etcd's address or path: those go to the log) until
    etcd has been read, then 200."""
    from helpers import Proxy
    hport, rport = free_port(), free_port()
    proxy = Proxy(etcd.port)
    proxy.block()
    try:
        text = (f"skydns.local:0 {{\n health 127.0.0.1:{hport}\n ready 127.0.0.1:{rport}\n etcd {{\n"
                f"  path {data.path}\n  endpoint {proxy.url}\n }}\n}}\n")
        with Logged() as logged, testing.serve(text, tmp_path, wait=False):  # ask while the copy cannot be read
            assert urllib.request.urlopen(f"http://127.0.0.1:{hport}/health").read() == b"OK"
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"http://127.0.0.1:{rport}/ready")
            body = e.value.read()
            assert e.value.code == 503 and body == b"skydns.local:0: plugin/etcd: not ready\n"
            assert proxy.url.encode() not in body and data.path.encode() not in body
            assert any("plugin/etcd: copy of" in line and data.path in line
                       for line in logged.lines("skydns.plugin.ready"))
            proxy.unblock()

            def ready():
                try:
                    return urllib.request.urlopen(f"http://127.0.0.1:{rport}/ready").read() == b"OK"
                except urllib.error.HTTPError:
                    return False
            assert eventually(ready, timeout=10)
    finally:
        proxy.close()


def test_duration_and_size_buckets():
    """Each reply lands in CoreDNS's bucket for its duration and size (le: at most the bound)."""
    from types import SimpleNamespace

    from skydns.plugin.prometheus import metrics
    rec = metrics.Recorder("", "skydns")
    observe = rec.observer("srv")
    now = metrics._now()
    for d, size in ((0.0001, 0), (0.0002, 100), (0.0003, 101), (0.6, 511), (100.0, 65535)):
        req = SimpleNamespace(zone="z.", proto="udp", client=("127.0.0.1", 1), qtype=1, started=now - d,
                              wire=b"\x00" * 40, do=False)
        observe(req, b"\x00\x00\x81\x00" + b"\x00" * (size - 4) if size >= 12 else b"\x00\x00\x81\x00" + b"\x00" * 8)
    (series,) = rec.series.values()
    assert [i for i, c in enumerate(series.dcounts) for _ in range(c)] == [0, 0, 1, 12, 16]
    assert [i for i, c in enumerate(series.scounts) for _ in range(c)] == [1, 1, 2, 5, 14]


def test_ready_monitor_until_ready_or_continuously(tmp_path, etcd, data):
    """ready { monitor until-ready } stays 200 once ready (CoreDNS's default); continuously (skydns's default)
    turns 503 when the etcd copy is no longer confirmed."""
    from helpers import Proxy
    r1, r2 = free_port(), free_port()
    proxy = Proxy(etcd.port)
    try:
        etcd_block = f" etcd {{\n  path {data.path}\n  endpoint {proxy.url}\n  stale_after 1s\n }}\n"
        text = (f"skydns.local:0 {{\n ready 127.0.0.1:{r1} {{\n  monitor until-ready\n }}\n{etcd_block}}}\n"
                f"other.local:0 {{\n ready 127.0.0.1:{r2}\n{etcd_block}}}\n")

        def status(port):
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/ready").status
            except urllib.error.HTTPError as e:
                return e.code

        with testing.serve(text, tmp_path):
            assert eventually(lambda: status(r1) == 200 and status(r2) == 200, timeout=10)
            proxy.freeze()  # connections stay open and carry nothing: the copy goes unconfirmed
            assert eventually(lambda: status(r2) == 503, timeout=10)
            assert status(r1) == 200
            proxy.thaw()
    finally:
        proxy.close()


def test_coredns_metric_names_and_the_grafana_dashboard(tmp_path, data, ups):
    """CoreDNS's metric names and labels next to skydns's; every metric the dashboard in docs/grafana uses
    is exported by a server with etcd, cache and forward."""
    import json
    import os
    import re

    up = ups()
    mport = free_port()
    data.put("web.skydns.local", {"host": "10.0.0.1"})
    text = (f"skydns.local:0 {{\n prometheus 127.0.0.1:{mport}\n cache\n etcd {{\n  path {data.path}\n"
            f"  endpoint {data.server.url}\n }}\n}}\n.:0 {{\n prometheus 127.0.0.1:{mport}\n cache\n"
            f" forward . {up.addr}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        ports = list(srv.ports().values())
        for _ in range(2):
            srv.query("web.skydns.local.", "A", port=ports[0])
            srv.query("nope.skydns.local.", "A", port=ports[0])
            srv.query("www.example.org.", "A", port=ports[-1])
        samples = scrape(mport)
        names = {name for name, _ in samples}
        labels = dict(server="skydns.local:0", zone="skydns.local.", view="", proto="udp", family="1", type="A")
        assert value(samples, "coredns_dns_requests_total", **labels) == 4
        assert value(samples, "coredns_dns_responses_total", server="skydns.local:0", zone="skydns.local.", view="",
                     rcode="NXDOMAIN", plugin="") == 2
        assert value(samples, "coredns_cache_hits_total", server="skydns.local:0", type="success",
                     zones="skydns.local.", view="") == 1
        assert value(samples, "coredns_forward_requests_total", to=up.addr) == 1
        assert value(samples, "coredns_dns_request_size_bytes_count", server="skydns.local:0", zone="skydns.local.",
                     view="", proto="udp") == 4
        assert value(samples, "coredns_dns_do_requests_total", server="skydns.local:0", zone="skydns.local.",
                     view="") == 0
        dashboard = json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "grafana",
                                                "skydns-coredns.json")))
        used = {m for panel in dashboard["panels"] for t in panel["targets"]
                for m in re.findall(r"\b((?:coredns|skydns)_[a-z_]+)", t["expr"])}
        assert used and used <= names, used - names
