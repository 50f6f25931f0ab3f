"""dnssec: answers validated by dnspython and by delv; NSEC3 white lies; key errors; the signature cache."""
import base64
import os
import shutil
import subprocess

import dns.dnssec
import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from helpers import eventually, metric, write_key
from skydns import testing
from skydns.plugin.dnssec import keys as keymod

ZONE = "skydns.local."


def corefile(data, keys, cache=""):
    files = " ".join(keys)
    return (f"skydns.local:0 {{\n {cache}\n dnssec {{\n  key file {files}\n }}\n etcd {{\n  path {data.path}\n"
            f"  endpoint {data.server.url}\n }}\n}}\n")


def fill(data):
    data.put("web.skydns.local", {"host": "10.0.0.1"})
    data.put("web6.skydns.local", {"host": "2001:db8::1"})
    data.put("a.svc.skydns.local", {"host": "10.0.0.2", "port": 80})
    data.put("t.skydns.local", {"text": "hello"})
    data.put("ns1.ns.dns.skydns.local", {"host": "10.0.0.53"})
    data.put("x.east.skydns.local", {"host": "10.0.0.3"})


def validate(reply, dnskeys, section="answer"):
    rrsets = [r for r in getattr(reply, section) if r.rdtype != dns.rdatatype.RRSIG]
    sigs = {(r.name, r.covers): r for r in getattr(reply, section) if r.rdtype == dns.rdatatype.RRSIG}
    assert rrsets
    for rrset in rrsets:
        dns.dnssec.validate(rrset, sigs[(rrset.name, rrset.rdtype)], {dns.name.from_text(ZONE): dnskeys})
        assert sigs[(rrset.name, rrset.rdtype)].ttl == rrset.ttl


def h(name):
    return base64.b32hexdecode(dns.dnssec.nsec3_hash(name, b"", 0, 1).upper())


def covers(nsec3, name):
    owner = base64.b32hexdecode(nsec3.name.labels[0].upper())
    nxt, target = nsec3[0].next, h(name)
    return owner < target < nxt if owner < nxt else (target > owner or target < nxt)


def matches(nsec3, name):
    return base64.b32hexdecode(nsec3.name.labels[0].upper()) == h(name)


@pytest.mark.parametrize("algorithm", [8, 13, 15])
def test_answers_and_denials_validate(tmp_path, data, algorithm):
    fill(data)
    key = write_key(tmp_path, ZONE, algorithm)
    with testing.serve(corefile(data, [key]), tmp_path) as srv:
        dnskeys = srv.query(ZONE, "DNSKEY", want_dnssec=True, payload=4096)
        keyset = [r for r in dnskeys.answer if r.rdtype == dns.rdatatype.DNSKEY][0]
        validate(dnskeys, keyset)
        for name, qtype in (("web.skydns.local.", "A"), ("web6.skydns.local.", "AAAA"),
                            ("svc.skydns.local.", "SRV"), ("t.skydns.local.", "TXT"), (ZONE, "NS"),
                            (ZONE, "SOA"), (ZONE, "NSEC3PARAM"), ("a.*.skydns.local.", "A")):
            r = srv.query(name, qtype, want_dnssec=True, payload=4096)
            assert r.rcode() == dns.rcode.NOERROR, (name, qtype)
            validate(r, keyset)
        # Without DO: no signatures.
        assert all(x.rdtype != dns.rdatatype.RRSIG for x in srv.query("web.skydns.local.", "A").answer)
        # NODATA: an NSEC3 matching the name, without the type (and without CNAME).
        r = srv.query("web.skydns.local.", "MX", want_dnssec=True, payload=4096)
        validate(r, keyset, "authority")
        n3 = [x for x in r.authority if x.rdtype == dns.rdatatype.NSEC3]
        assert len(n3) == 1 and matches(n3[0], "web.skydns.local.")
        types = {t for _, bitmap in n3[0][0].windows for t in _bits(bitmap)}
        assert dns.rdatatype.MX not in types and dns.rdatatype.CNAME not in types and dns.rdatatype.A in types
        # Over UDP with a small buffer a signed denial is truncated (TC), never cut silently.
        small = srv.query("a.nope.east.skydns.local.", "A", want_dnssec=True, payload=512)
        assert small.flags & dns.flags.TC or len(small.to_wire()) <= 512
        # NXDOMAIN below an existing name: closest encloser east, next closer nope.east, wildcard *.east.
        r = srv.query("a.nope.east.skydns.local.", "A", want_dnssec=True, payload=4096)
        assert r.rcode() == dns.rcode.NXDOMAIN
        validate(r, keyset, "authority")
        n3 = [x for x in r.authority if x.rdtype == dns.rdatatype.NSEC3]
        assert any(matches(x, "east.skydns.local.") for x in n3)
        assert any(covers(x, "nope.east.skydns.local.") for x in n3)
        assert any(covers(x, "*.east.skydns.local.") for x in n3)
        assert not any(covers(x, "east.skydns.local.") or covers(x, "x.east.skydns.local.") for x in n3)


def test_skydns_rsasha1_keys_are_taken_with_a_warning(tmp_path, data):
    """SkyDNS's README makes RSASHA1 keys (algorithm 5, and 7 for NSEC3): they sign, and the warning says why
    and what to use instead."""
    from helpers import Logged

    fill(data)
    for algorithm in (5, 7):
        key = write_key(tmp_path, ZONE, algorithm)
        with Logged() as logged, testing.serve(corefile(data, [key]), tmp_path) as srv:
            dnskeys = srv.query(ZONE, "DNSKEY", want_dnssec=True, payload=4096)
            keyset = [r for r in dnskeys.answer if r.rdtype == dns.rdatatype.DNSKEY][0]
            r = srv.query("web.skydns.local.", "A", want_dnssec=True, payload=4096)
            validate(r, keyset)
            warnings = logged.warnings("skydns.plugin.dnssec")
            assert any("signs with SHA-1" in w and "algorithm 13" in w for w in warnings), warnings
            assert any("cannot sign NSEC3" in w for w in warnings) == (algorithm == 5)


def _bits(bitmap):
    for i, byte in enumerate(bitmap):
        for j in range(8):
            if byte & (0x80 >> j):
                yield i * 8 + j


def test_ksk_signs_only_dnskeys_and_cache(tmp_path, data):
    fill(data)
    ksk = write_key(tmp_path, ZONE, 13, flags=257)
    zsk = write_key(tmp_path, ZONE, 13)
    ksk_tag = keymod.load(ksk).tag
    with testing.serve(corefile(data, [ksk, zsk]), tmp_path) as srv:
        r = srv.query(ZONE, "DNSKEY", want_dnssec=True, payload=4096)
        assert {s.key_tag for x in r.answer if x.rdtype == dns.rdatatype.RRSIG for s in x} == {ksk_tag}
        r = srv.query("web.skydns.local.", "A", want_dnssec=True, payload=4096)
        assert ksk_tag not in {s.key_tag for x in r.answer if x.rdtype == dns.rdatatype.RRSIG for s in x}
        made = metric(srv, "skydns_dnssec_signatures_made_total", zone=ZONE)
        srv.query("web.skydns.local.", "A", want_dnssec=True, payload=4096)
        assert metric(srv, "skydns_dnssec_signatures_made_total", zone=ZONE) == made  # the signed reply reused
        assert metric(srv, "skydns_dnssec_reply_cache_entries") >= 1
        srv.query("WEB.skydns.local.", "A", want_dnssec=True, payload=4096)
        assert metric(srv, "skydns_dnssec_signatures_made_total", zone=ZONE) == made
        assert metric(srv, "skydns_dnssec_cache_hits_total", zone=ZONE) > 0  # another spelling: from the cache
        revision = metric(srv, "skydns_etcd_revision")
        data.put("web.skydns.local", {"host": "10.0.0.9"})
        assert eventually(lambda: metric(srv, "skydns_etcd_revision") > revision)
        srv.query("web.skydns.local.", "A", want_dnssec=True, payload=4096)
        # a changed RRset is signed again
        assert metric(srv, "skydns_dnssec_signatures_made_total", zone=ZONE) == made + 1


@pytest.mark.skipif(not shutil.which("delv"), reason="delv (bind9-dnsutils) not installed")
def test_delv_fully_validates(tmp_path, data):
    """An independent validator: delv with the zone's key as trust anchor."""
    fill(data)
    if shutil.which("dnssec-keygen"):
        out = subprocess.run(["dnssec-keygen", "-q", "-K", str(tmp_path), "-a", "ECDSAP256SHA256", "-f", "KSK", ZONE],
                             capture_output=True, text=True, check=True)
        key = os.path.join(str(tmp_path), out.stdout.strip())
    else:
        key = write_key(tmp_path, ZONE, 13, flags=257)
    loaded = keymod.load(key)
    anchors = tmp_path / "anchors.conf"
    anchors.write_text(f'trust-anchors {{\n "{ZONE}" static-key {loaded.dnskey.flags} 3 {loaded.algorithm} '
                       f'"{base64.b64encode(loaded.dnskey.key).decode()}";\n}};\n')
    with testing.serve(corefile(data, [key], cache="cache"), tmp_path) as srv:
        def delv(name, qtype):
            return subprocess.run(["delv", "@127.0.0.1", "-p", str(srv.port), "-a", str(anchors), f"+root={ZONE}",
                                   name, qtype], capture_output=True, text=True, timeout=30).stdout
        for name, qtype in (("web.skydns.local", "A"), ("svc.skydns.local", "SRV"), ("t.skydns.local", "TXT")):
            out = delv(name, qtype)
            assert "; fully validated" in out, out
        out = delv("nope.skydns.local", "A")
        assert "; negative response, fully validated" in out, out
        out = delv("web.skydns.local", "MX")
        assert "; negative response, fully validated" in out, out


def test_key_errors(tmp_path):
    from skydns import config
    from skydns.config.errors import CorefileError
    good = write_key(tmp_path, ZONE, 13)
    other = write_key(tmp_path, "example.org.", 13)
    mismatched = write_key(tmp_path, ZONE, 15)
    shutil.copy(write_key(tmp_path, ZONE, 15) + ".private", mismatched + ".private")
    (tmp_path / f"K{ZONE}+003+00001.key").write_text(f"{ZONE} IN DNSKEY 256 3 3 AwEAAb4N\n")
    (tmp_path / f"K{ZONE}+003+00001.private").write_text("Private-key-format: v1.3\nAlgorithm: 3 (DSA)\n")
    cases = {
        f"key file {tmp_path}/Knothere": "cannot read",
        f"key file {other}": "is for example.org., not one of skydns.local.",
        f"key file {mismatched}": "does not hold the private half",
        f"key file {tmp_path}/K{ZONE}+003+00001": "algorithm 3 is not supported",
        "key": "expected 'key file KEY...'",
        "cache_capacity 0": "cache_capacity must be between",
    }
    for body, message in cases.items():
        (tmp_path / "Corefile").write_text(f"skydns.local {{\n dnssec {{\n  {body}\n }}\n whoami\n}}\n")
        with pytest.raises(CorefileError) as e:
            config.load(str(tmp_path / "Corefile"))
        assert message in str(e.value) and "Corefile:3 - plugin/dnssec" in str(e.value), (body, str(e.value))
    (tmp_path / "Corefile").write_text(f"skydns.local {{\n dnssec {{\n  key file {good}.private\n }}\n whoami\n}}\n")
    config.load(str(tmp_path / "Corefile"))  # the .private path works too


@pytest.mark.integration
def test_ds_command(tmp_path):
    """skydns ds prints the DS of the key-signing key, as the parent needs it."""
    import sys
    ksk = write_key(tmp_path, ZONE, 13, flags=257)
    zsk = write_key(tmp_path, ZONE, 15)
    (tmp_path / "Corefile").write_text(f"skydns.local:1053 {{\n dnssec {{\n  key file {ksk} {zsk}\n }}\n whoami\n}}\n")
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "skydns"), "ds", "-c",
                          str(tmp_path / "Corefile")], capture_output=True, text=True)
    assert out.returncode == 0
    loaded = keymod.load(ksk)
    expected = dns.dnssec.make_ds(ZONE, loaded.dnskey, "SHA256")
    assert out.stdout == f"{ZONE} IN DS {expected.to_text()}\n"


def test_records_from_forward_are_not_signed(tmp_path, data):
    """An external CNAME target answered by forward keeps its records unsigned; ours are signed."""
    from helpers import Upstream
    up = Upstream(address="176.58.119.54")
    try:
        data.put("ext.skydns.local", {"host": "www.miek.nl"})
        key = write_key(tmp_path, ZONE, 13)
        text = corefile(data, [key]) + f".:0 {{\n forward . {up.addr}\n}}\n"
        with testing.serve(text, tmp_path) as srv:
            r = srv.query("ext.skydns.local.", "A", want_dnssec=True, payload=4096)
            signed = {x.name.to_text() for x in r.answer if x.rdtype == dns.rdatatype.RRSIG}
            assert signed == {"ext.skydns.local."}
            assert any(x.name.to_text() == "www.miek.nl." and x.rdtype == dns.rdatatype.A for x in r.answer)
            r = srv.query("www.example.org.", "A", want_dnssec=True, payload=4096)
            assert r.answer and not any(x.rdtype == dns.rdatatype.RRSIG for x in r.answer)
    finally:
        up.close()
