"""Asking by service: RFC 2782 names (_http._tcp.web), DNS-SD browsing (RFC 6763) and HTTPS/SVCB records
(RFC 9460), made from the services' fields, against real etcd and a running server; dig parses them too."""
import shutil
import subprocess

import dns.rcode
import dns.rdatatype
import dns.zone
import pytest

from helpers import write_key
from skydns import testing

ZONE = "skydns.local."


def fill(data):
    data.put("x1.web.skydns.local", {"host": "10.0.0.1", "port": 443, "service": "https", "alpn": ["h2", "http/1.1"]})
    data.put("x2.web.skydns.local", {"host": "10.0.0.2", "port": 443, "service": "https", "alpn": ["h2", "http/1.1"]})
    data.put("x3.web.skydns.local", {"host": "10.0.0.3", "port": 80, "service": "http"})
    data.put("api.skydns.local", {"host": "10.0.0.9", "port": 8443, "service": "https", "alpn": ["h2"],
                                  "text": "path=/v1"})
    data.put("dns.resolver.skydns.local", {"host": "10.0.0.53", "port": 53, "service": "domain", "proto": "udp"})
    data.put("plain.skydns.local", {"host": "10.0.0.7", "port": 22})  # SkyDNS's record, unchanged


def rdatas(msg, rdtype):
    return sorted(rd.to_text() for rrset in msg.answer if rrset.rdtype == rdtype for rd in rrset)


def test_rfc2782_names(tmp_path, data):
    fill(data)
    data.put("x1._http._tcp.lit.skydns.local", {"host": "10.9.9.9", "port": 1})  # a key there: answered as is
    with testing.serve(data.block(), tmp_path) as srv:
        r = srv.query("_https._tcp.web.skydns.local.", "SRV")
        assert rdatas(r, dns.rdatatype.SRV) == ["10 50 443 x1.web.skydns.local.", "10 50 443 x2.web.skydns.local."]
        assert rdatas(srv.query("_http._tcp.web.skydns.local.", "SRV"), dns.rdatatype.SRV) == [
            "10 100 80 x3.web.skydns.local."]
        assert rdatas(srv.query("_domain._udp.resolver.skydns.local.", "SRV"), dns.rdatatype.SRV) == [
            "10 100 53 dns.resolver.skydns.local."]
        assert srv.query("_ssh._tcp.plain.skydns.local.", "SRV").rcode() == dns.rcode.NXDOMAIN
        assert srv.query("_https._tcp.web.skydns.local.", "A").rcode() == dns.rcode.NOERROR  # exists, NODATA
        assert rdatas(srv.query("_http._tcp.lit.skydns.local.", "SRV"), dns.rdatatype.SRV) == [
            "10 100 1 x1._http._tcp.lit.skydns.local."]
        r = srv.query("plain.skydns.local.", "SRV")  # SkyDNS's answers as they were
        assert rdatas(r, dns.rdatatype.SRV) == ["10 100 22 plain.skydns.local."]


def test_dns_sd_browsing(tmp_path, data):
    fill(data)
    with testing.serve(data.block(), tmp_path) as srv:
        types = rdatas(srv.query("_services._dns-sd._udp.skydns.local.", "PTR"), dns.rdatatype.PTR)
        assert types == ["_domain._udp.skydns.local.", "_http._tcp.skydns.local.", "_https._tcp.skydns.local."]
        instances = rdatas(srv.query("_https._tcp.skydns.local.", "PTR"), dns.rdatatype.PTR)
        assert instances == ["api._https._tcp.skydns.local.", "web._https._tcp.skydns.local."]
        assert rdatas(srv.query("_domain._udp.skydns.local.", "PTR"), dns.rdatatype.PTR) == [
            "dns\\.resolver._domain._udp.skydns.local."]
        r = srv.query("web._https._tcp.skydns.local.", "SRV")
        assert rdatas(r, dns.rdatatype.SRV) == ["10 50 443 x1.web.skydns.local.", "10 50 443 x2.web.skydns.local."]
        assert sorted(rd.address for rrset in r.additional for rd in rrset) == ["10.0.0.1", "10.0.0.2"]
        assert rdatas(srv.query("api._https._tcp.skydns.local.", "TXT"), dns.rdatatype.TXT) == ['"path=/v1"']
        assert rdatas(srv.query("web._https._tcp.skydns.local.", "TXT"), dns.rdatatype.TXT) == ['""']
        assert srv.query("nope._https._tcp.skydns.local.", "SRV").rcode() == dns.rcode.NXDOMAIN
        r = srv.query("dns\\.resolver._domain._udp.skydns.local.", "SRV")
        assert rdatas(r, dns.rdatatype.SRV) == ["10 100 53 dns.resolver.skydns.local."]
        if shutil.which("dig"):  # what a DNS-SD browser does, by hand
            out = subprocess.run(["dig", "@127.0.0.1", "-p", str(srv.port), "+short", "-t", "PTR",
                                  "_https._tcp.skydns.local"], capture_output=True, text=True, timeout=10).stdout
            assert out.split() == ["api._https._tcp.skydns.local.", "web._https._tcp.skydns.local."], out


def test_https_and_svcb_records(tmp_path, data):
    fill(data)
    data.put("x1.v6.skydns.local", {"host": "2001:db8::1", "port": 443, "alpn": "h3"})
    data.put("cdn.skydns.local", {"host": "edge.example.net", "port": 443, "alpn": ["h2"]})
    with testing.serve(data.block(), tmp_path) as srv:
        assert rdatas(srv.query("web.skydns.local.", "HTTPS"), dns.rdatatype.HTTPS) == [
            '10 . alpn="h2,http/1.1" ipv4hint="10.0.0.1,10.0.0.2"']
        assert rdatas(srv.query("api.skydns.local.", "HTTPS"), dns.rdatatype.HTTPS) == [
            '10 . alpn="h2" port="8443" ipv4hint="10.0.0.9"']
        assert rdatas(srv.query("v6.skydns.local.", "HTTPS"), dns.rdatatype.HTTPS) == [
            '10 . alpn="h3" ipv6hint="2001:db8::1"']
        assert rdatas(srv.query("cdn.skydns.local.", "HTTPS"), dns.rdatatype.HTTPS) == ['10 edge.example.net. alpn="h2"']
        assert rdatas(srv.query("api.skydns.local.", "SVCB"), dns.rdatatype.SVCB) == [
            '10 . alpn="h2" port="8443" ipv4hint="10.0.0.9"']
        r = srv.query("plain.skydns.local.", "HTTPS")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer  # no HTTPS offered: NODATA
        if shutil.which("dig"):
            out = subprocess.run(["dig", "@127.0.0.1", "-p", str(srv.port), "+short", "-t", "HTTPS",
                                  "api.skydns.local"], capture_output=True, text=True, timeout=10).stdout
            assert out.strip() == '10 . alpn="h2" port=8443 ipv4hint=10.0.0.9', out


def test_https_records_are_signed_and_transferred(tmp_path, data):
    import dns.dnssec
    import dns.message
    import dns.name
    import dns.query

    fill(data)
    key = write_key(tmp_path, ZONE, 13)
    text = (f"skydns.local:0 {{\n dnssec {{\n  key file {key}\n }}\n transfer {{\n  to *\n }}\n"
            f" etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        r = dns.query.udp(dns.message.make_query("api.skydns.local.", "HTTPS", want_dnssec=True), "127.0.0.1",
                          port=srv.port, timeout=3)
        keys = srv.query(ZONE, "DNSKEY").answer[0]
        https = next(x for x in r.answer if x.rdtype == dns.rdatatype.HTTPS)
        sig = next(x for x in r.answer if x.rdtype == dns.rdatatype.RRSIG)
        dns.dnssec.validate(https, sig, {dns.name.from_text(ZONE): keys})
        z = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", ZONE, port=srv.port, relativize=False), relativize=False)
        assert [rd.to_text() for rd in z.get_rdataset("web.skydns.local.", "HTTPS")] == [
            '10 . alpn="h2,http/1.1" ipv4hint="10.0.0.1,10.0.0.2"']


@pytest.mark.parametrize("field, value, words", [
    ("service", "_http", "must be a service name"), ("service", "a" * 16, "must be a service name"),
    ("alpn", [], "must be a list of ALPN ids"), ("alpn", ["x" * 300], "must be a list of ALPN ids"),
    ("location", "", "1 to 128 characters"),
])
def test_bad_fields_are_refused_naming_them(field, value, words):
    import json

    from skydns.msg.service import InvalidService, from_json

    with pytest.raises(InvalidService, match=words):
        from_json(json.dumps({"host": "10.0.0.1", field: value}), "web.skydns.local.")
