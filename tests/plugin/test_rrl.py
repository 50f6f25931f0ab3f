"""rrl: a flood from one address gets at most its rate of replies (a few truncated), on every path, while
other addresses and TCP are answered in full; a valid DNS cookie exempts a client."""
import socket
import time

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from helpers import fakeplugins, metric
from helpers.upstreams import Upstream
from skydns import config, testing
from skydns.config.errors import CorefileError


def corefile(rrl, chain=" cache\n answer 10.0.0.1\n", extra=""):
    return f".:0 {{\n bind 127.0.0.1\n rrl {{\n{rrl}\n }}\n{extra}{chain}}}\n"


def flood(port, source, n, name="www.example.org.", cookie=None, gap=0.0):
    """Send ``n`` queries from ``source`` (a loopback address) at once; the replies that came back."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(0.3)
    options = [dns.edns.GenericOption(dns.edns.OptionType.COOKIE, cookie)] if cookie else []
    for i in range(n):
        q = dns.message.make_query(name, "A", use_edns=0 if cookie else -1, options=options)
        q.id = i
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        if gap:
            time.sleep(gap)
    replies = []
    try:
        while True:
            replies.append(dns.message.from_wire(s.recv(65535)))
    except TimeoutError:
        pass
    s.close()
    return replies


def kinds(replies):
    full = sum(1 for r in replies if r.answer)
    truncated = sum(1 for r in replies if r.flags & dns.flags.TC and not r.answer)
    return full, truncated


def test_a_flood_is_limited_others_are_not(tmp_path):
    with testing.serve(corefile("  responses-per-second 10\n  window 5\n  slip-ratio 2"), tmp_path,
                       fakeplugins.registry()) as srv:
        full, truncated = kinds(flood(srv.port, "127.0.0.2", 200))
        assert 10 <= full <= 13  # the bucket's second's worth (and what it earns while the flood runs)
        assert 80 <= truncated <= 100  # every second dropped reply slips out truncated
        assert srv.query("www.example.org.", source="127.1.0.3").answer  # another network: answered
        assert srv.query("www.example.org.", tcp=True, source="127.0.0.2").answer  # TCP: never limited
        assert metric(srv, "skydns_rrl_responses_limited_total", category="responses", action="dropped") >= 90
        assert metric(srv, "skydns_rrl_responses_limited_total", category="responses", action="slipped") >= 80
        # the flood's replies were the cache's: the raw path is limited too
        assert metric(srv, "skydns_cache_hits_total") >= 150


def test_nxdomain_flood_of_random_names_shares_one_bucket(tmp_path):
    up = Upstream("rcode", rcode=dns.rcode.NXDOMAIN)
    try:
        text = corefile("  responses-per-second 100\n  nxdomains-per-second 5\n  slip-ratio 0",
                        chain=f" forward . 127.0.0.1:{up.port}\n")
        with testing.serve(text, tmp_path, fakeplugins.registry()) as srv:
            # the forward relay's path (no plugin in front of forward)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.5", 0))
            s.settimeout(0.5)
            for i in range(60):
                s.sendto(dns.message.make_query(f"rand{i}.example.org.", "A").to_wire(), ("127.0.0.1", srv.port))
            answered = 0
            try:
                while True:
                    s.recv(512)
                    answered += 1
            except TimeoutError:
                pass
            s.close()
            assert 5 <= answered <= 8  # one bucket for the zone, not one per random name
            assert srv.query("www.example.org.", source="127.1.0.6").rcode() == dns.rcode.NXDOMAIN
    finally:
        up.close()


def test_cookie_exempts_and_slips_as_badcookie(tmp_path):
    text = corefile("  responses-per-second 5\n  slip-ratio 1", extra=" cookie\n")
    with testing.serve(text, tmp_path, fakeplugins.registry()) as srv:
        client = b"c00k1e!!"
        replies = flood(srv.port, "127.0.0.7", 30, cookie=client)
        full = [r for r in replies if r.answer]
        bad = [r for r in replies if r.rcode() == dns.rcode.BADCOOKIE]
        assert 5 <= len(full) <= 7 and len(full) + len(bad) == 30  # slip 1: every drop answered BADCOOKIE
        cookie = [o for o in bad[0].options if o.otype == dns.edns.OptionType.COOKIE][0].to_wire()
        assert cookie[:8] == client and len(cookie) == 24
        # the retry with the server cookie proves the address: never limited
        replies = flood(srv.port, "127.0.0.7", 30, cookie=cookie)
        assert len([r for r in replies if r.answer]) == 30


@pytest.mark.parametrize("body,message", [
    ("  window 5", "rrl needs a rate"),
    ("  responses-per-second many", "'many' is not responses-per-second"),
    ("  burst 5", "unknown property 'burst'"),
    ("  responses-per-second 5\n  exempt 10.0.0.300", "'10.0.0.300' is not an IP address"),
    ("  responses-per-second 5\n  slip-ratio 11", "slip-ratio must be between 0 and 10"),
])
def test_bad_rrl(tmp_path, body, message):
    (tmp_path / "Corefile").write_text(corefile(body))
    with pytest.raises(CorefileError) as e:
        config.load(str(tmp_path / "Corefile"), fakeplugins.registry())
    assert message in str(e.value) and "plugin/rrl" in str(e.value)


def test_one_limiter_per_listener(tmp_path):
    (tmp_path / "Corefile").write_text(
        "a.example:1053 {\n rrl {\n  responses-per-second 5\n }\n whoami\n}\n"
        "b.example:1053 {\n rrl {\n  responses-per-second 9\n }\n whoami\n}\n"
        "c.example:1054 {\n rrl example.com {\n  responses-per-second 9\n }\n whoami\n}\n")
    with pytest.raises(CorefileError) as e:
        config.load(str(tmp_path / "Corefile"))
    assert "different 'rrl' settings" in str(e.value) or "not one of this block's" in str(e.value)
