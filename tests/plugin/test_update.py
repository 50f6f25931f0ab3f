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
                                                   "weight": 20, "ttl": 300}
        assert stored["/local/skydns/svc/txt"] == {"text": "hello world", "ttl": 300}
        assert stored["/local/skydns/svc/alias"] == {"host": "web.svc.skydns.local.", "ttl": 300}
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
        assert keys(data) == {"/local/skydns/other/note": {"text": "ok", "ttl": 300}}


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
                                                       "priority": 10, "ttl": 300}}
        # the TTL given is the TTL answered; the same record again with another TTL takes it (RFC 2136 3.4.2.2)
        assert eventually(lambda: [rrset.ttl for rrset in srv.query("mx.svc.skydns.local.", "MX").answer] == [300])
        u = dns.update.UpdateMessage(ZONE, keyring=keyring, keyname="ddns")
        u.add("mx.svc.skydns.local.", 120, "MX", "10 mail.svc.skydns.local.")
        assert dns.query.tcp(u, "127.0.0.1", port=srv.port, timeout=5).rcode() == dns.rcode.NOERROR
        assert keys(data) == {"/local/skydns/svc/mx": {"host": "mail.svc.skydns.local.", "mail": True,
                                                       "priority": 10, "ttl": 120}}
        assert eventually(lambda: [rrset.ttl for rrset in srv.query("mx.svc.skydns.local.", "MX").answer] == [120])


@needs_nsupdate
def test_ptr_in_a_reverse_zone(tmp_path, data):
    text = (f"10.0.0.0/24:0 {{\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n"
            f" tsig {{\n  secret ddns {SECRET}\n }}\n update {{\n  key ddns types PTR\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        script = (f"server 127.0.0.1 {srv.port}\nzone 0.0.10.in-addr.arpa.\nkey hmac-sha256:ddns {SECRET}\n"
                  "update add 7.0.0.10.in-addr.arpa. 300 PTR web.skydns.local.\nsend\n")
        out = subprocess.run(["nsupdate", "-v"], input=script, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert keys(data) == {"/arpa/in-addr/10/0/0/7": {"host": "web.skydns.local.", "ttl": 300}}
        assert eventually(lambda: [rr.target.to_text() for rrset in srv.query("7.0.0.10.in-addr.arpa.", "PTR").answer
                                   for rr in rrset] == ["web.skydns.local."])


# -- what a key holder, or someone who captured a signed update, can make the server do (issue 27) ----------

def signed(update_fn, key=("ddns", SECRET), **tsig) -> dns.update.UpdateMessage:
    u = dns.update.UpdateMessage(ZONE)
    u.use_tsig(dns.tsigkeyring.from_text({key[0]: key[1]}), key[0], **tsig)
    update_fn(u)
    return u


def send(srv, u) -> int:
    """The reply's rcode, over TCP (a message, or its wire form as captured)."""
    import socket
    import struct

    wire = u if isinstance(u, bytes) else u.to_wire()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        size = struct.unpack("!H", s.recv(2))[0]
        data = b""
        while len(data) < size:
            data += s.recv(size - len(data))
    return dns.message.from_wire(data, keyring=False).rcode()


def test_a_key_cannot_delete_types_outside_its_policy(tmp_path, data):
    """The key 'other' may change TXT below other.: deleting a whole name (class ANY, type ANY) that also holds
    an A record is refused, and nothing is written; a name holding only TXT it may delete."""
    data.client.put(f"{data.path}/local/skydns/other/mixed", json.dumps({"host": "10.0.0.5"}))
    data.client.put(f"{data.path}/local/skydns/other/mixed/x1", json.dumps({"text": "t"}))
    data.client.put(f"{data.path}/local/skydns/other/txt", json.dumps({"text": "only text"}))
    with testing.serve(corefile(data), tmp_path) as srv:
        assert send(srv, signed(lambda u: u.delete("mixed.other.skydns.local."), ("other", OTHER))) == \
            dns.rcode.REFUSED
        assert "/local/skydns/other/mixed" in keys(data) and "/local/skydns/other/mixed/x1" in keys(data)
        assert send(srv, signed(lambda u: u.delete("txt.other.skydns.local."), ("other", OTHER))) == \
            dns.rcode.NOERROR
        assert "/local/skydns/other/txt" not in keys(data)


def test_acl_applies_to_updates(tmp_path, data):
    """acl in front refuses a blocked client's update as it refuses its queries."""
    text = corefile(data).replace(" tsig {", " acl {\n  block net 127.0.0.0/8\n }\n tsig {")
    with testing.serve(text, tmp_path) as srv:
        assert srv.query("x.skydns.local.", "A").rcode() == dns.rcode.REFUSED
        assert send(srv, signed(lambda u: u.add("web.svc.skydns.local.", 300, "A", "10.0.0.1"))) == \
            dns.rcode.REFUSED
        assert keys(data) == {}


def test_a_captured_update_cannot_be_replayed(tmp_path, data):
    """An add captured on the wire and sent again after its delete is refused: the signature was used."""
    with testing.serve(corefile(data), tmp_path) as srv:
        add = signed(lambda u: u.add("web.svc.skydns.local.", 300, "A", "10.0.0.1")).to_wire()
        assert send(srv, add) == dns.rcode.NOERROR and keys(data)
        assert send(srv, signed(lambda u: u.delete("web.svc.skydns.local.", "A"))) == dns.rcode.NOERROR
        assert keys(data) == {}
        assert send(srv, add) == dns.rcode.NOTAUTH  # BADTIME: seen before
        assert keys(data) == {}


def test_a_client_cannot_widen_the_time_window(tmp_path, data, monkeypatch):
    """A request signed an hour ago with a fudge of 65535 s is out of time: the server allows 300 s at most."""
    import time as time_module

    with testing.serve(corefile(data), tmp_path) as srv:
        real = time_module.time
        monkeypatch.setattr(time_module, "time", lambda: real() - 3600)
        old = signed(lambda u: u.add("web.svc.skydns.local.", 300, "A", "10.0.0.1"), fudge=65535).to_wire()
        monkeypatch.setattr(time_module, "time", real)
        assert send(srv, old) == dns.rcode.NOTAUTH
        assert keys(data) == {}


def test_a_tsig_error_field_in_a_request_is_formerr_without_a_traceback(tmp_path, data):
    """A request whose TSIG record claims an error (only replies do) is FORMERR, logged as the client's
    mistake, with no traceback."""
    from helpers import Logged

    with Logged() as logged, testing.serve(corefile(data), tmp_path) as srv:
        u = signed(lambda u: u.add("web.svc.skydns.local.", 300, "A", "10.0.0.1"), tsig_error=dns.rcode.BADSIG)
        assert send(srv, u) == dns.rcode.FORMERR
    assert not [e for e in logged.events if e["log_level"].name in ("error", "critical")]


def test_big_updates_and_the_zones_own_names_are_refused(tmp_path, data):
    """300 records in one update (more than one etcd transaction takes), and names under dns.<zone> (the zone's
    NS set and apex addresses): REFUSED, nothing written, no traceback."""
    from helpers import Logged

    with Logged() as logged, testing.serve(corefile(data), tmp_path) as srv:
        def many(u):
            for i in range(300):
                u.add("web.svc.skydns.local.", 300, "A", f"10.0.{i // 250}.{i % 250 + 1}")

        assert send(srv, signed(many)) == dns.rcode.REFUSED
        text = corefile(data).replace("names svc.skydns.local ", "names skydns.local ")
        srv.write(text)
        assert srv.reload()
        assert send(srv, signed(lambda u: u.add("ns1.ns.dns.skydns.local.", 300, "A", "10.0.0.53"))) == \
            dns.rcode.REFUSED
        assert keys(data) == {}
    assert not [e for e in logged.events if e["log_level"].name in ("error", "critical")]
