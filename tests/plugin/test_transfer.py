"""transfer: real secondaries (NSD and Knot, from Debian) take the etcd zone by AXFR, answer the same as
skydns for every name of the zone, and after changes in etcd get NOTIFY and the changes by IXFR."""
import json
import os
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.zone
import pytest
from twisted.internet import task

from helpers import eventually, metric
from helpers.secondaries import KNOTD, NAMED, NSD, BINDSecondary, KnotSecondary, NSDSecondary
from skydns import testing

pytestmark = pytest.mark.integration
ZONE = "skydns.local."
SERVICES = {
    "web": {"host": "10.0.0.1", "port": 80, "ttl": 60},
    "db/x1": {"host": "10.0.0.2", "port": 5432, "priority": 10},
    "db/x2": {"host": "10.0.0.3", "port": 5432, "priority": 20},
    "v6": {"host": "2001:db8::6", "port": 443},
    "alias": {"host": "web.skydns.local"},
    "outside": {"host": "www.example.org"},
    "txt": {"text": "hello world"},
    "mail": {"host": "10.0.0.25", "mail": True, "priority": 5},
    "dns/ns/ns1": {"host": "10.0.0.53"},
    "east/app/x1": {"host": "10.1.0.1", "port": 8080},
}


def put_all(data, services):
    for rel, svc in services.items():
        data.client.put(f"{data.path}/local/skydns/{rel}", json.dumps(svc))


def corefile(data, to, extra="", port=0):
    return (f"skydns.local:{port} {{\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n"
            f" transfer {{\n  to {to}\n }}\n{extra}}}\n")


def answers(msg):
    """The answer section as comparable text: owner, TTL, type, rdata (sorted)."""
    return sorted(line for rrset in msg.answer for line in rrset.to_text().lower().splitlines())


def names_of(srv, port):
    z = dns.zone.Zone(ZONE)
    dns.query.inbound_xfr("127.0.0.1", z, port=port, timeout=5)
    return z, sorted(n.derelativize(z.origin).to_text() for n in z.nodes)


def compare(srv, secondary, names, zone):
    """Every name of the zone, every type it can hold: the same answer from skydns and the secondary.

    A name whose data is a CNAME (a service whose host is a name) is compared on CNAME queries: SkyDNS
    also answers SRV for it, which zone data cannot hold beside a CNAME (the transfer README)."""
    differences = []
    for name in names:
        node = zone.get_node(name)
        is_cname = node is not None and node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME) is not None
        types = ("SOA", "NS") if name == ZONE else ("CNAME",) if is_cname else ("A", "AAAA", "SRV", "TXT", "MX")
        for qtype in types:
            ours = srv.query(name, qtype)
            theirs = secondary.query(name, qtype)
            if answers(ours) != answers(theirs) or ours.rcode() != theirs.rcode():
                differences.append((name, qtype, answers(ours), answers(theirs)))
    return differences


@pytest.mark.parametrize("kind", [
    pytest.param("nsd", marks=pytest.mark.skipif(not os.path.exists(NSD), reason="no nsd")),
    pytest.param("knot", marks=pytest.mark.skipif(not os.path.exists(KNOTD), reason="no knotd")),
    pytest.param("named", marks=pytest.mark.skipif(not os.path.exists(NAMED), reason="no named")),
])
def test_secondary_transfers_answers_alike_and_follows_by_ixfr(tmp_path, data, kind):
    put_all(data, SERVICES)
    port = testing.free_port()
    cls = {"nsd": NSDSecondary, "knot": KnotSecondary, "named": BINDSecondary}[kind]
    secondary = cls(tmp_path / kind, ZONE, port)
    with testing.serve(corefile(data, f"127.0.0.1:{secondary.port}", port=port), tmp_path) as srv:
        z, names = names_of(srv, port)
        serial = z.get_soa().serial
        secondary.start()
        try:
            assert secondary.wait_serial(serial), secondary.text()[-3000:]
            assert "db.skydns.local." in names and "x1.db.skydns.local." in names
            diff = compare(srv, secondary, names, z)
            assert diff == [], "\n".join(map(str, diff))
            # changes: one added, one changed, one deleted; NOTIFY, then IXFR
            data.client.put(f"{data.path}/local/skydns/new", json.dumps({"host": "10.0.0.99", "port": 99}))
            data.client.put(f"{data.path}/local/skydns/web", json.dumps({"host": "10.0.0.100", "port": 80}))
            data.client.delete(f"{data.path}/local/skydns/txt")
            assert eventually(lambda: srv.query("txt.skydns.local.", "TXT").rcode() == dns.rcode.NXDOMAIN)
            new_serial = srv.query(ZONE, "SOA").answer[0][0].serial
            start = time.monotonic()
            assert secondary.wait_serial(new_serial, timeout=15), secondary.text()[-3000:]
            print(f"\n{kind}: serial {serial} -> {new_serial} {time.monotonic() - start:.2f}s after the changes")
            # incremental: skydns served an IXFR (and Knot's log says so too); NSD's update was 682 bytes
            # against 1373 for the whole zone
            assert metric(srv, "skydns_transfer_requests_total", kind="ixfr") >= 1
            assert metric(srv, "skydns_transfer_requests_total", kind="axfr") == 2
            if kind == "knot":
                assert "IXFR, incoming" in secondary.text(), secondary.text()[-3000:]
            z, names = names_of(srv, port)
            assert "new.skydns.local." in names and "txt.skydns.local." not in names
            diff = compare(srv, secondary, names, z)
            assert diff == [], "\n".join(map(str, diff))
        finally:
            secondary.stop()


def test_transfer_refused_to_others_and_over_udp(tmp_path, data):
    put_all(data, {"web": {"host": "10.0.0.1"}})
    with testing.serve(corefile(data, "192.0.2.10"), tmp_path) as srv:
        q = dns.message.make_query(ZONE, "AXFR")
        assert dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=3).rcode() == dns.rcode.REFUSED
    with testing.serve(corefile(data, "127.0.0.0/8"), tmp_path) as srv:
        q = dns.message.make_query(ZONE, "AXFR")
        assert dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=3).rcode() == dns.rcode.FORMERR  # TCP only
        r = dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=3)
        assert r.rcode() == 0 and r.answer[0].rdtype == dns.rdatatype.SOA


def test_without_transfer_the_zone_is_refused_not_empty(tmp_path, data):
    """No transfer in the block: AXFR and IXFR over TCP get REFUSED (RFC 5936), over UDP FORMERR (AXFR is TCP
    only) and NOTIMP (IXFR), never an empty NOERROR a secondary would take for the zone."""
    put_all(data, {"web": {"host": "10.0.0.1"}})
    text = f"skydns.local:0 {{\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n"
    with testing.serve(text, tmp_path) as srv:
        for qtype, udp in (("AXFR", dns.rcode.FORMERR), ("IXFR", dns.rcode.NOTIMP)):
            q = dns.message.make_query(ZONE, qtype)
            assert dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=3).rcode() == dns.rcode.REFUSED, qtype
            assert dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=3).rcode() == udp, qtype


@pytest.mark.parametrize("policy", ["round_robin", "random_one"])
def test_transfer_beside_loadbalance(tmp_path, data, policy):
    """loadbalance post-processes answers; a transfer's stream passes it by whole."""
    put_all(data, SERVICES)
    with testing.serve(corefile(data, "*", extra=f" loadbalance {policy}\n"), tmp_path) as srv:
        z, names = names_of(srv, srv.port)
        assert "web.skydns.local." in names and z.get_soa().serial > 0
        assert srv.query("db.skydns.local.", "A").rcode() == dns.rcode.NOERROR


def test_ixfr_falls_back_to_axfr_without_history(tmp_path, data):
    """A client serial older than the server's history (here: from before it started) gets the whole zone;
    a current one gets the SOA alone."""
    put_all(data, {"web": {"host": "10.0.0.1"}})
    with testing.serve(corefile(data, "*"), tmp_path) as srv:
        soa = srv.query(ZONE, "SOA").answer[0][0]

        def ixfr(serial):
            q = dns.message.make_query(ZONE, "IXFR")
            q.authority.append(dns.rrset.from_text(ZONE, 0, "IN", "SOA", soa.to_text().replace(
                f" {soa.serial} ", f" {serial} ")))
            return dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=5, one_rr_per_rrset=True)

        r = ixfr(1)
        types = [rrset.rdtype for rrset in r.answer]
        assert types[0] == dns.rdatatype.SOA and types[1] != dns.rdatatype.SOA  # AXFR's form
        r = ixfr(soa.serial)
        assert len(r.answer) == 1 and r.answer[0][0].serial == soa.serial


def test_notify_is_coalesced(tmp_path, data):
    """A burst of 50 puts sends one NOTIFY once the delay has passed (on the test's clock), not 50."""
    import socket
    import threading

    put_all(data, {"web": {"host": "10.0.0.1"}})
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    got = []

    def read():
        while True:
            try:
                raw, addr = listener.recvfrom(4096)
            except OSError:
                return
            msg = dns.message.from_wire(raw)
            got.append(msg)
            listener.sendto(dns.message.make_response(msg).to_wire(), addr)

    threading.Thread(target=read, daemon=True).start()
    to = f"127.0.0.1:{listener.getsockname()[1]}"
    with testing.serve(corefile(data, to), tmp_path, clock=task.Clock()) as srv:
        dns.query.tcp(dns.message.make_query(ZONE, "AXFR"), "127.0.0.1", port=srv.port, timeout=5)
        for i in range(50):
            data.client.put(f"{data.path}/local/skydns/n{i}", json.dumps({"host": f"10.9.0.{i + 1}"}))
        last = data.client.get_response(f"{data.path}/local/skydns/n49").header.revision
        assert eventually(lambda: srv.query(ZONE, "SOA").answer[0][0].serial >= last)  # every change seen
        assert got == []  # the delay has not passed
        srv.advance(1)
        assert eventually(lambda: got) and metric(srv, "skydns_transfer_requests_total", kind="notify") == 1
        assert len(got) == 1
        assert got[0].opcode() == dns.opcode.NOTIFY and got[0].question[0].name.to_text() == ZONE
    listener.close()


def test_bad_transfer_configuration(tmp_path, data):
    from skydns.config.errors import CorefileError

    for body, words in ((" transfer\n", "needs 'to ADDRESS...'"),
                        (" transfer {\n  to nowhere\n }\n", "'nowhere' is not an address"),
                        (" transfer example.org {\n  to *\n }\n", "not served by this server block")):
        text = (f"skydns.local:0 {{\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n{body}}}\n")
        with pytest.raises(CorefileError, match=words):
            testing.start(text, tmp_path)



SECRET = "c2t5ZG5zLXRlc3Qtc2VjcmV0LWZvci10c2lnLWtleXMhIQ=="


@pytest.mark.parametrize("kind", [
    pytest.param("nsd", marks=pytest.mark.skipif(not os.path.exists(NSD), reason="no nsd")),
    pytest.param("knot", marks=pytest.mark.skipif(not os.path.exists(KNOTD), reason="no knotd")),
    pytest.param("named", marks=pytest.mark.skipif(not os.path.exists(NAMED), reason="no named")),
])
def test_signed_transfers(tmp_path, data, kind):
    """With tsig { require AXFR IXFR }: the secondary's signed AXFR and IXFR are answered and signed;
    unsigned and wrongly signed requests are refused."""
    import dns.tsigkeyring

    put_all(data, {"web": {"host": "10.0.0.1"}, "dns/ns/ns1": {"host": "10.0.0.53"}})
    port = testing.free_port()
    cls = {"nsd": NSDSecondary, "knot": KnotSecondary, "named": BINDSecondary}[kind]
    secondary = cls(tmp_path / kind, ZONE, port, tsig=("xfr-key", "hmac-sha256", SECRET))
    tsig = f" tsig {{\n  secret xfr-key {SECRET} hmac-sha256\n  require AXFR IXFR\n }}\n"
    with testing.serve(corefile(data, f"127.0.0.1:{secondary.port}", tsig, port=port), tmp_path) as srv:
        q = dns.message.make_query(ZONE, "AXFR")
        assert dns.query.tcp(q, "127.0.0.1", port=port, timeout=3).rcode() == dns.rcode.REFUSED
        wrong = dns.message.make_query(ZONE, "AXFR")
        wrong.use_tsig(dns.tsigkeyring.from_text({"xfr-key": "d3Jvbmcgc2VjcmV0"}), "xfr-key")
        with pytest.raises(dns.tsig.PeerBadSignature):  # NOTAUTH, and the TSIG error BADSIG
            dns.query.tcp(wrong, "127.0.0.1", port=port, timeout=3)
        serial = srv.query(ZONE, "SOA").answer[0][0].serial
        secondary.start()
        try:
            assert secondary.wait_serial(serial), secondary.text()[-3000:]
            data.client.put(f"{data.path}/local/skydns/new", json.dumps({"host": "10.0.0.99"}))
            assert eventually(lambda: srv.query("new.skydns.local.", "A").answer)
            new_serial = srv.query(ZONE, "SOA").answer[0][0].serial
            assert secondary.wait_serial(new_serial, timeout=15), secondary.text()[-3000:]
            assert answers(secondary.query("new.skydns.local.", "A")) == answers(srv.query("new.skydns.local.", "A"))
            assert metric(srv, "skydns_transfer_requests_total", kind="ixfr") >= 1
        finally:
            secondary.stop()


def test_refusals_to_signed_requests_are_signed(tmp_path, data):
    """A correctly signed AXFR from an address outside 'to' is REFUSED with a signed reply (RFC 8945 5.3):
    dnspython checks the reply's signature, and dig reports the refusal, not a signature failure."""
    import shutil
    import subprocess

    import dns.tsigkeyring

    put_all(data, {"web": {"host": "10.0.0.1"}})
    tsig = f" tsig {{\n  secret xfr-key {SECRET} hmac-sha256\n }}\n"
    keyring = dns.tsigkeyring.from_text({"xfr-key": SECRET})
    with testing.serve(corefile(data, "192.0.2.10", tsig), tmp_path) as srv:
        for qtype, proto in (("AXFR", dns.query.tcp), ("IXFR", dns.query.tcp), ("AXFR", dns.query.udp)):
            q = dns.message.make_query(ZONE, qtype)
            q.use_tsig(keyring, "xfr-key")
            r = proto(q, "127.0.0.1", port=srv.port, timeout=3)  # raises unless the reply is signed with the key
            assert r.had_tsig and r.rcode() == dns.rcode.REFUSED, (qtype, r)
        if shutil.which("dig"):
            out = subprocess.run(["dig", "@127.0.0.1", "-p", str(srv.port), "-y", f"hmac-sha256:xfr-key:{SECRET}",
                                  ZONE, "AXFR"], capture_output=True, text=True, timeout=10).stdout
            assert "Transfer failed" in out and "tsig verify failure" not in out.lower(), out


def test_transfers_are_capped_and_stream(tmp_path, data):
    """A secondary that stops reading holds its transfer (paused, a few messages in memory); beyond
    max_transfers others are refused; once it goes, transfers are taken again."""
    import socket
    import struct

    t = data.client.transactions
    ops = [t.put(f"{data.path}/local/skydns/svc/s{i}",
                 json.dumps({"host": f"10.{i // 62500}.{i // 250 % 250}.{i % 250 + 1}", "port": 80}))
           for i in range(40000)]  # more than the kernel's socket buffers hold
    for i in range(0, len(ops), 100):
        data.client.transaction(compare=[], success=ops[i:i + 100], failure=[])
    text = corefile(data, "*").replace("  to *\n", "  to *\n  max_transfers 1\n")
    with testing.serve(text, tmp_path) as srv:
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        stalled.connect(("127.0.0.1", srv.port))
        q = dns.message.make_query(ZONE, "AXFR").to_wire()
        stalled.sendall(struct.pack("!H", len(q)) + q)  # and never reads
        assert eventually(lambda: metric(srv, "skydns_transfer_active") == 1)
        # paused, not finished (the client does not read): another transfer is refused
        r = dns.query.tcp(dns.message.make_query(ZONE, "AXFR"), "127.0.0.1", port=srv.port, timeout=5)
        assert r.rcode() == dns.rcode.REFUSED and metric(srv, "skydns_transfer_active") == 1
        stalled.close()
        assert eventually(lambda: metric(srv, "skydns_transfer_active") == 0, timeout=10)
        r = dns.query.tcp(dns.message.make_query(ZONE, "AXFR"), "127.0.0.1", port=srv.port, timeout=10)
        assert r.rcode() == dns.rcode.NOERROR and len(r.answer) > 1  # taken again (its first message)


def test_query_and_transfer_tell_the_same_zone(tmp_path, data):
    """A reverse zone carries PTRs, as PTR queries answer (not CNAMEs into the forward zone); a zone without
    dns/ns keys carries the NS its NS query answers."""
    data.put_key("/arpa/in-addr/10/0/1/125", json.dumps({"host": "4.rails.staging.east.skydns.local"}))
    data.put_key("/arpa/in-addr/10/0/1/126", json.dumps({"host": "10.0.1.126"}))
    text = (f"skydns.local:0 0.10.in-addr.arpa:0 {{\n etcd {{\n  path {data.path}\n"
            f"  endpoint {data.server.url}\n }}\n transfer {{\n  to *\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        z = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", "0.10.in-addr.arpa.", port=srv.port, timeout=5,
                                            relativize=False), relativize=False)
        node = z.get_node("125.1.0.10.in-addr.arpa.")
        assert node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME) is None
        ptr = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.PTR)
        answered = srv.query("125.1.0.10.in-addr.arpa.", "PTR").answer
        assert [rd.to_text() for rd in ptr] == [rd.to_text() for rd in answered[0]] == [
            "4.rails.staging.east.skydns.local."]
        ns = z.get_rdataset("0.10.in-addr.arpa.", "NS")
        assert [rd.to_text() for rd in ns] == ["ns.dns.0.10.in-addr.arpa."]
        assert [rd.to_text() for rd in srv.query("0.10.in-addr.arpa.", "NS").answer[0]] == [rd.to_text() for rd in ns]
