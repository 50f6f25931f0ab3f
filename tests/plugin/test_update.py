"""update: RFC 2136 dynamic updates with TSIG from nsupdate (bind9-dnsutils) into etcd; etcd is checked after
each, and the records show in DNS answers and in transfers."""
import json
import shutil
import subprocess

import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import dns.zone
import pytest

from helpers import eventually
from skydns import testing

pytestmark = pytest.mark.integration
SECRET = "dXBkYXRlLWtleS1zZWNyZXQtZm9yLXRoZS10ZXN0cyEhIQ=="
OTHER = "b3RoZXIta2V5LXNlY3JldC1mb3ItdGhlLXRlc3RzISEhIQ=="
ZONE = "skydns.local."
needs_nsupdate = pytest.mark.skipif(not shutil.which("nsupdate"), reason="no nsupdate")


def corefile(data):
    return (f"skydns.local:0 {{\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n"
            f" tsig {{\n  secret ddns {SECRET}\n  secret other {OTHER}\n }}\n"
            " update {\n  key ddns names svc.skydns.local types A AAAA SRV TXT CNAME MX\n"
            "  key other names other.skydns.local types TXT\n }\n"
            " transfer {\n  to *\n }\n}\n")


def nsupdate(port, commands, key=("ddns", SECRET)):
    script = f"server 127.0.0.1 {port}\nzone {ZONE}\n"
    if key:
        script += f"key hmac-sha256:{key[0]} {key[1]}\n"
    script += commands.strip() + "\nsend\n"
    return subprocess.run(["nsupdate", "-v"], input=script, capture_output=True, text=True, timeout=30)


def keys(data):
    """etcd under the test's path: key (relative) -> service."""
    return {meta.key.decode()[len(data.path):]: json.loads(v) for v, meta in data.client.get_prefix(data.path + "/")}


def a(srv, name):
    return sorted(rr.address for rrset in srv.query(name, "A").answer for rr in rrset if rrset.rdtype == 1)


@needs_nsupdate
def test_add_replace_delete(tmp_path, data):
    with testing.serve(corefile(data), tmp_path) as srv:
        out = nsupdate(srv.port, "update add web.svc.skydns.local. 300 A 10.0.0.1\n"
                                 "update add web.svc.skydns.local. 300 A 10.0.0.2")
        assert out.returncode == 0, out.stderr
        stored = keys(data)
        assert sorted(s["host"] for s in stored.values()) == ["10.0.0.1", "10.0.0.2"]
        assert all(k.startswith("/local/skydns/svc/web/x") for k in stored)  # one name, two records
        assert eventually(lambda: a(srv, "web.svc.skydns.local.") == ["10.0.0.1", "10.0.0.2"])
        # replace: delete the RRset, add another, in one update (one transaction)
        out = nsupdate(srv.port, "update delete web.svc.skydns.local. A\n"
                                 "update add web.svc.skydns.local. 300 A 10.0.0.3")
        assert out.returncode == 0, out.stderr
        assert [s["host"] for s in keys(data).values()] == ["10.0.0.3"]
        assert eventually(lambda: a(srv, "web.svc.skydns.local.") == ["10.0.0.3"])
        # other types
        out = nsupdate(srv.port, "update add api.svc.skydns.local. 300 SRV 10 20 8443 web.svc.skydns.local.\n"
                                 "update add txt.svc.skydns.local. 300 TXT \"hello world\"\n"
                                 "update add alias.svc.skydns.local. 300 CNAME web.svc.skydns.local.")
        assert out.returncode == 0, out.stderr
        stored = keys(data)
        assert stored["/local/skydns/svc/api"] == {"host": "web.svc.skydns.local.", "port": 8443, "priority": 10,
                                                   "weight": 20}
        assert stored["/local/skydns/svc/txt"] == {"text": "hello world"}
        assert stored["/local/skydns/svc/alias"] == {"host": "web.svc.skydns.local."}
        assert eventually(lambda: srv.query("txt.svc.skydns.local.", "TXT").answer)
        # delete one record, then a whole name
        out = nsupdate(srv.port, "update delete txt.svc.skydns.local. TXT \"hello world\"")
        assert out.returncode == 0 and "/local/skydns/svc/txt" not in keys(data)
        out = nsupdate(srv.port, "update delete web.svc.skydns.local.")
        assert out.returncode == 0 and not [k for k in keys(data) if k.startswith("/local/skydns/svc/web")]
        # the records added show to secondaries too
        z = dns.zone.Zone(ZONE)
        dns.query.inbound_xfr("127.0.0.1", z, port=srv.port, timeout=5)
        assert z.get_node("api.svc") is not None and z.get_node("web.svc") is None


@needs_nsupdate
def test_failed_prerequisites_write_nothing(tmp_path, data):
    data.client.put(f"{data.path}/local/skydns/svc/db", json.dumps({"host": "10.0.0.9"}))
    with testing.serve(corefile(data), tmp_path) as srv:
        before = keys(data)
        cases = {
            "prereq nxdomain db.svc.skydns.local.": "YXDOMAIN",
            "prereq yxdomain nothing.svc.skydns.local.": "NXDOMAIN",
            "prereq yxrrset db.svc.skydns.local. AAAA": "NXRRSET",
            "prereq nxrrset db.svc.skydns.local. A": "YXRRSET",
            "prereq yxrrset db.svc.skydns.local. A 10.0.0.1": "NXRRSET",  # value dependent: not these records
        }
        for prereq, rcode in cases.items():
            out = nsupdate(srv.port, f"{prereq}\nupdate add db.svc.skydns.local. 300 A 10.0.0.10")
            assert out.returncode != 0 and rcode in out.stdout + out.stderr, (prereq, out.stdout, out.stderr)
            assert keys(data) == before, prereq
        out = nsupdate(srv.port, "prereq yxrrset db.svc.skydns.local. A 10.0.0.9\n"
                                 "update add db.svc.skydns.local. 300 A 10.0.0.10")
        assert out.returncode == 0, out.stderr
        assert sorted(s["host"] for s in keys(data).values()) == ["10.0.0.10", "10.0.0.9"]


@needs_nsupdate
def test_keys_and_policy(tmp_path, data):
    with testing.serve(corefile(data), tmp_path) as srv:
        out = nsupdate(srv.port, "update add web.svc.skydns.local. 300 A 10.0.0.1", key=("ddns", OTHER))
        assert out.returncode != 0 and keys(data) == {}  # wrong secret: TSIG fails, nothing written
        out = nsupdate(srv.port, "update add web.svc.skydns.local. 300 A 10.0.0.1", key=None)
        assert out.returncode != 0 and "REFUSED" in out.stdout + out.stderr and keys(data) == {}
        out = nsupdate(srv.port, "update add web.other.skydns.local. 300 A 10.0.0.1")
        assert out.returncode != 0 and "REFUSED" in out.stdout + out.stderr and keys(data) == {}  # outside names
        out = nsupdate(srv.port, "update add note.other.skydns.local. 300 A 10.0.0.1", key=("other", OTHER))
        assert out.returncode != 0 and keys(data) == {}  # type outside the key's types
        out = nsupdate(srv.port, "update add note.other.skydns.local. 300 TXT ok", key=("other", OTHER))
        assert out.returncode == 0, out.stderr
        assert keys(data) == {"/local/skydns/other/note": {"text": "ok"}}


def test_update_without_the_plugin_is_notimp(tmp_path, data):
    with testing.serve(f"skydns.local:0 {{\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n",
                       tmp_path) as srv:
        u = dns.update.UpdateMessage(ZONE)
        u.add("x.skydns.local.", 300, "A", "10.0.0.1")
        r = dns.query.udp(u, "127.0.0.1", port=srv.port, timeout=3)
        assert r.rcode() == dns.rcode.NOTIMP and keys(data) == {}


def test_update_with_dnspython(tmp_path, data):
    """The same from dnspython's client (signed, over TCP): the reply is signed too."""
    with testing.serve(corefile(data), tmp_path) as srv:
        keyring = dns.tsigkeyring.from_text({"ddns": SECRET})
        u = dns.update.UpdateMessage(ZONE, keyring=keyring, keyname="ddns")
        u.add("mx.svc.skydns.local.", 300, "MX", "10 mail.svc.skydns.local.")
        r = dns.query.tcp(u, "127.0.0.1", port=srv.port, timeout=5)  # dnspython checks the reply's TSIG
        assert r.rcode() == dns.rcode.NOERROR
        assert keys(data) == {"/local/skydns/svc/mx": {"host": "mail.svc.skydns.local.", "mail": True,
                                                       "priority": 10}}


@needs_nsupdate
def test_ptr_in_a_reverse_zone(tmp_path, data):
    text = (f"10.0.0.0/24:0 {{\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n"
            f" tsig {{\n  secret ddns {SECRET}\n }}\n update {{\n  key ddns types PTR\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        script = (f"server 127.0.0.1 {srv.port}\nzone 0.0.10.in-addr.arpa.\nkey hmac-sha256:ddns {SECRET}\n"
                  "update add 7.0.0.10.in-addr.arpa. 300 PTR web.skydns.local.\nsend\n")
        out = subprocess.run(["nsupdate", "-v"], input=script, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert keys(data) == {"/arpa/in-addr/10/0/0/7": {"host": "web.skydns.local."}}
        assert eventually(lambda: [rr.target.to_text() for rrset in srv.query("7.0.0.10.in-addr.arpa.", "PTR").answer
                                   for rr in rrset] == ["web.skydns.local."])
