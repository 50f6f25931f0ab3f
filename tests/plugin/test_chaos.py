"""chaos: version, authors and host name for CH TXT queries, with dnspython and dig."""
import shutil
import socket
import subprocess

import dns.message
import dns.rcode
import dns.rdataclass
import pytest

from skydns import __version__, testing


def txt(srv, name, **kw):
    q = dns.message.make_query(name, "TXT", rdclass="CH", **kw)
    r = srv.send(q)
    assert r.id == q.id
    return [b"".join(rd.strings).decode() for rrset in r.answer for rd in rrset], r


def test_version_authors_hostname(tmp_path):
    text = '.:0 {\n chaos SkyDNS-3 "Miek Gieben" "Brian Ketelsen"\n}\n'
    with testing.serve(text, tmp_path) as srv:
        assert txt(srv, "version.bind.")[0] == ["SkyDNS-3"]
        assert txt(srv, "VERSION.server.")[0] == ["SkyDNS-3"]
        got, r = txt(srv, "authors.bind.", use_edns=0)
        assert got == ["Miek Gieben", "Brian Ketelsen"] and r.edns == 0
        assert all(rrset.rdclass == dns.rdataclass.CH and rrset.ttl == 0 for rrset in r.answer)
        assert txt(srv, "hostname.bind.")[0] == [socket.gethostname()]
        assert txt(srv, "id.server.")[0] == [socket.gethostname()]
        # Not a chaos name, or not CH TXT: passed on (and with no plugin after chaos, SERVFAIL).
        assert txt(srv, "other.bind.")[1].rcode() == dns.rcode.SERVFAIL
        assert srv.query("version.bind.", "TXT").rcode() == dns.rcode.SERVFAIL  # class IN


def test_defaults(tmp_path):
    with testing.serve(".:0 {\n chaos\n whoami\n}\n", tmp_path) as srv:
        assert txt(srv, "version.bind.")[0] == [f"skydns-{__version__}"]
        assert txt(srv, "authors.bind.")[0] == ["The skydns authors"]


@pytest.mark.integration
@pytest.mark.skipif(not shutil.which("dig"), reason="dig not installed")
def test_dig_reads_the_version(tmp_path):
    with testing.serve(".:0 {\n chaos SkyDNS-3\n}\n", tmp_path) as srv:
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(srv.port), "CH", "TXT", "version.bind", "+short"],
                             capture_output=True, text=True, timeout=10).stdout
    assert out.strip() == '"SkyDNS-3"'


def test_long_version_is_split_and_tcp_works(tmp_path):
    """A version longer than 255 bytes goes out as several character-strings of one TXT record."""
    long = "v" * 300
    with testing.serve(f".:0 {{\n chaos {long}\n}}\n", tmp_path) as srv:
        q = dns.message.make_query("version.bind.", "TXT", rdclass="CH")
        r = srv.send(q, tcp=True)
        (rrset,) = r.answer
        assert [len(s) for s in rrset[0].strings] == [255, 45] and b"".join(rrset[0].strings).decode() == long
