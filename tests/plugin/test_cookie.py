"""cookie: DNS cookies (RFC 7873/9018) on UDP, TCP, TLS and HTTPS, as dig, kdig and dnspython see them."""
import shutil
import socket
import ssl
import subprocess

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from helpers import metric
from helpers.certs import make_pki
from skydns import testing
from skydns.config.errors import CorefileError

CLIENT = bytes.fromhex("0102030405060708")


def ask(srv, cookie, tcp=False, **kw):
    q = dns.message.make_query("whoami.example.", "A", use_edns=0,
                               options=[dns.edns.GenericOption(dns.edns.OptionType.COOKIE, cookie)])
    return srv.send(q, tcp=tcp, **kw)


def cookie_of(reply):
    found = [o.to_wire() for o in reply.options if o.otype == dns.edns.OptionType.COOKIE]
    return found[0] if found else None


def test_cookies_over_udp_and_tcp(tmp_path):
    text = ".:0 {\n bind 127.0.0.1\n cookie\n whoami\n}\n"
    with testing.serve(text, tmp_path) as srv:
        first = ask(srv, CLIENT)
        got = cookie_of(first)
        assert got[:8] == CLIENT and got[8:12] == b"\x01\x00\x00\x00" and len(got) == 24
        assert first.additional  # answered as usual (whoami answers in the additional section)
        again = ask(srv, got, tcp=True)
        assert cookie_of(again) == got  # a valid, fresh server cookie comes back as it was
        other = ask(srv, CLIENT[::-1] + got[8:])
        assert cookie_of(other)[8:] != got[8:]  # not ours for that client cookie: a new one
        plain = srv.query("whoami.example.", use_edns=0)
        assert cookie_of(plain) is None
        bad = dns.message.make_query("whoami.example.", "A", use_edns=0,
                                     options=[dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"short")])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(bad.to_wire(), ("127.0.0.1", srv.port))
        header = s.recv(512)
        s.close()
        assert header[:2] == bad.to_wire()[:2] and header[3] & 0x0F == dns.rcode.FORMERR  # RFC 7873 5.2.2
        states = {s: metric(srv, "skydns_cookie_queries_total", state=s) for s in ("new", "good", "bad", "malformed")}
        assert states == {"new": 1, "good": 1, "bad": 1, "malformed": 1}


def test_require_sends_badcookie_until_the_client_has_one(tmp_path):
    text = ".:0 {\n bind 127.0.0.1\n cookie {\n  require\n }\n whoami\n}\n"
    with testing.serve(text, tmp_path) as srv:
        r = ask(srv, CLIENT)
        assert r.rcode() == dns.rcode.BADCOOKIE and not r.additional
        r = ask(srv, cookie_of(r))
        assert r.rcode() == dns.rcode.NOERROR and r.additional
        t = srv.query("whoami.example.")
        assert t.flags & dns.flags.TC and not t.additional  # no cookie at all: ask again over TCP
        assert srv.query("whoami.example.", tcp=True).additional  # TCP proves the address


@pytest.mark.skipif(not shutil.which("dig") or not shutil.which("kdig"), reason="dig and kdig not installed")
def test_dig_and_kdig_show_good_cookies(tmp_path):
    text = ".:0 {\n bind 127.0.0.1\n cookie\n whoami\n}\n"
    with testing.serve(text, tmp_path) as srv:
        for tcp in ("+notcp", "+tcp"):
            out = subprocess.run(["dig", "+cookie", tcp, "-p", str(srv.port), "@127.0.0.1", "whoami.example."],
                                 capture_output=True, text=True, timeout=10).stdout
            assert "COOKIE:" in out and "(good)" in out, out
        out = subprocess.run(["kdig", "+cookie", "-p", str(srv.port), "@127.0.0.1", "whoami.example."],
                             capture_output=True, text=True, timeout=10).stdout
        line = [x for x in out.splitlines() if "COOKIE:" in x][0]
        assert len(line.split()[-1]) == 48, out  # the client's 8 bytes and a server cookie of 16


def test_cookies_over_tls_and_https(tmp_path):
    pki = make_pki(tmp_path)
    dot, doh = testing.free_port(), testing.free_port()
    text = (f"tls://.:{dot} {{\n tls {pki['server']} {pki['server_key']}\n cookie\n whoami\n}}\n"
            f"https://.:{doh} {{\n tls {pki['server']} {pki['server_key']}\n cookie\n whoami\n}}\n")
    ctx = ssl.create_default_context(cafile=pki["ca"])
    q = dns.message.make_query("whoami.example.", "A", use_edns=0,
                               options=[dns.edns.GenericOption(dns.edns.OptionType.COOKIE, CLIENT)])
    with testing.serve(text, tmp_path):
        r = dns.query.tls(q, "127.0.0.1", port=dot, ssl_context=ctx, server_hostname="localhost", timeout=5)
        assert cookie_of(r)[:8] == CLIENT and len(cookie_of(r)) == 24
        r = dns.query.https(q, f"https://localhost:{doh}/dns-query", verify=ctx, bootstrap_address="127.0.0.1",
                            timeout=5)
        assert cookie_of(r)[:8] == CLIENT and len(cookie_of(r)) == 24


@pytest.mark.parametrize("body,message", [
    (" cookie {\n  secret nothex\n }\n", "the secret is not hexadecimal"),
    (" cookie {\n  secret 0102\n }\n", "the secret must be 16 bytes"),
    (" cookie {\n  rotate soon\n }\n", "soon"),
    (" cookie {\n  salt x\n }\n", "unknown property 'salt'"),
])
def test_bad_cookie(tmp_path, body, message):
    (tmp_path / "Corefile").write_text(f".:0 {{\n{body} whoami\n}}\n")
    with pytest.raises(CorefileError) as e:
        testing.serve(f".:0 {{\n{body} whoami\n}}\n", tmp_path).__enter__()
    assert message in str(e.value) and "plugin/cookie" in str(e.value)
    assert "0102" not in str(e.value) or "16 bytes" in str(e.value)
