"""DNS cookies on the bytes: RFC 9018's test vectors, reading and stripping the option, adding it to replies."""
import os

import dns.edns
import dns.message
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import pytest

from skydns.query import cookies
from skydns.query.cookies import CookieConfig, Jar

SECRET = bytes.fromhex("e5e973e5a6b2a43f48e7dc849e37bfcf")
CLIENT = bytes.fromhex("2464c4abcf10c957")


class FixedSecret(Jar):
    """A jar whose secret is the given one, not derived (RFC 9018's vectors use it as it is)."""

    def secrets(self, now):
        return (SECRET, SECRET)


def test_rfc9018_test_vectors():
    jar = FixedSecret(CookieConfig(secret=SECRET))
    # Appendix A.1: a new server cookie; A.2: the same client 40 minutes later gets a fresh one
    assert jar.server_cookie(CLIENT, "198.51.100.100", 1559731985).hex() == "010000005cf79f111f8130c3eee29480"
    assert jar.server_cookie(CLIENT, "198.51.100.100", 1559734385).hex() == "010000005cf7a871d4a564a1442aca77"
    first = bytes.fromhex("010000005cf79f111f8130c3eee29480")
    assert jar.valid(CLIENT, first, "198.51.100.100", 1559734385)  # 40 minutes old: still valid
    assert not jar.valid(CLIENT, first, "198.51.100.101", 1559734385)  # another address
    assert not jar.valid(bytes(8), first, "198.51.100.100", 1559734385)  # another client cookie
    assert not jar.valid(CLIENT, first, "198.51.100.100", 1559731985 + 3601)  # over an hour old
    assert not jar.valid(CLIENT, first, "198.51.100.100", 1559731985 - 301)  # from the future


def test_rotation_accepts_the_previous_period_only():
    now = [100_000.0]
    jar = Jar(CookieConfig(secret=SECRET, rotate=600), clock=lambda: now[0])
    made = jar.server_cookie(CLIENT, "192.0.2.1", now[0])
    assert jar.valid(CLIENT, made, "192.0.2.1", now[0] + 500)  # next period: the previous secret
    other = Jar(CookieConfig(secret=SECRET, rotate=600))
    assert other.valid(CLIENT, made, "192.0.2.1", now[0] + 10)  # another process with the same secret
    assert not Jar(CookieConfig(secret=bytes(16), rotate=600)).valid(CLIENT, made, "192.0.2.1", now[0])
    stale = jar.server_cookie(CLIENT, "192.0.2.1", now[0])
    # two periods later the secret it was made with is gone (a forged timestamp cannot bring it back)
    forged = stale[:4] + int(now[0] + 1300).to_bytes(4, "big") + stale[8:]
    assert not jar.valid(CLIENT, forged, "192.0.2.1", now[0] + 1300)


def test_master_secret_comes_from_the_descriptor(monkeypatch):
    r, w = os.pipe()
    os.write(w, b"s" * 32)
    os.close(w)
    monkeypatch.setattr(cookies, "_master", None)
    monkeypatch.setenv(cookies.SECRET_FD, str(r))
    assert cookies.master_secret() == b"s" * 32
    assert cookies.SECRET_FD not in os.environ  # read once, not left for children to see
    monkeypatch.setattr(cookies, "_master", None)
    assert len(cookies.master_secret()) == 32 and cookies.master_secret() != b"s" * 32  # random without one


def query(cookie: bytes | None, **kw):
    options = [dns.edns.GenericOption(dns.edns.OptionType.COOKIE, cookie)] if cookie is not None else []
    options += kw.pop("more", [])
    return dns.message.make_query("www.example.org.", "A", use_edns=0, options=options, **kw)


def test_read_takes_the_option_out():
    q = query(CLIENT, more=[dns.edns.GenericOption(dns.edns.OptionType.NSID, b"")])
    found = cookies.read(q.to_wire())
    assert found.client == CLIENT and found.server == b""
    stripped = dns.message.from_wire(found.query)
    assert [o.otype for o in stripped.options] == [dns.edns.OptionType.NSID]
    assert stripped.question == q.question and found.bufsize == q.payload
    both = cookies.read(query(CLIENT + b"S" * 16).to_wire())
    assert both.client == CLIENT and both.server == b"S" * 16
    assert cookies.read(query(None).to_wire()) is None
    assert cookies.read(dns.message.make_query("x.", "A").to_wire()) is None  # no OPT
    for bad in (b"1234567", CLIENT + b"short", CLIENT + b"x" * 33):
        with pytest.raises(cookies.Malformed):
            cookies.read(query(bad).to_wire())


def test_signed_queries_are_left_alone():
    keyring = dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0c2VjcmV0"})
    q = query(CLIENT)
    q.use_tsig(keyring, "k.")
    assert cookies.read(q.to_wire()) is None  # TSIG covers the option


def test_add_to_replies():
    r = dns.message.make_response(query(CLIENT))
    r.answer.append(dns.rrset.from_text("www.example.org.", 60, "IN", "A", "192.0.2.1"))
    opt = cookies.option(CLIENT, b"S" * 16)
    out = dns.message.from_wire(cookies.add(r.to_wire(), opt))
    assert [(o.otype, o.to_wire()) for o in out.options] == [(dns.edns.OptionType.COOKIE, CLIENT + b"S" * 16)]
    assert out.answer == r.answer
    assert cookies.add(dns.message.make_response(dns.message.make_query("x.", "A")).to_wire(), opt) is None
    signed = dns.message.make_response(query(CLIENT))
    signed.use_tsig(dns.tsigkeyring.from_text({"k.": "c2VjcmV0c2VjcmV0c2VjcmV0"}), "k.")
    assert cookies.add(signed.to_wire(), opt) is None  # the signature would no longer verify


def test_badcookie_and_truncated_replies():
    q = query(CLIENT, want_dnssec=True)
    r = dns.message.from_wire(cookies.badcookie(q.to_wire(), cookies.option(CLIENT, b"S" * 16)))
    assert r.rcode() == dns.rcode.BADCOOKIE and r.id == q.id and r.question == q.question
    assert r.options[0].to_wire() == CLIENT + b"S" * 16
    t = dns.message.from_wire(cookies.truncated(query(None).to_wire()))
    assert t.flags & dns.flags.TC and not t.answer and t.question == q.question
