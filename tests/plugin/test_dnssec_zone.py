"""dnssec with transfer: the zone goes to secondaries signed whole (DNSKEY, an RRSIG over every RRset, an NSEC3
chain over every name), checked by dnspython, ldns-verify-zone and dnssec-verify; changes re-sign what changed
and IXFR carries it; a secondary behind a validating resolver answers with AD."""
import json
import os
import shutil
import subprocess

import dns.dnssec
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest

from helpers import eventually, metric, write_key
from helpers.resolvers import UNBOUND, Unbound
from helpers.secondaries import KNOTD, NAMED, NSD, BINDSecondary, KnotSecondary, NSDSecondary
from skydns import testing
from skydns.plugin.dnssec.chain import b32, nsec3_hash

pytestmark = pytest.mark.integration
ZONE = "skydns.local."
SERVICES = {
    "web": {"host": "10.0.0.1", "port": 80},
    "db/x1": {"host": "10.0.0.2", "port": 5432},
    "db/x2": {"host": "10.0.0.3", "port": 5432},
    "deep/er/still/app": {"host": "10.0.0.4"},  # empty non-terminals above it
    "alias": {"host": "web.skydns.local"},
    "txt": {"text": "hello"},
    "mail": {"host": "10.0.0.25", "mail": True},
    "dns/ns/ns1": {"host": "10.0.0.53"},
}


def put_all(data, services):
    for rel, svc in services.items():
        data.client.put(f"{data.path}/local/skydns/{rel}", json.dumps(svc))


def corefile(data, keys, to="*", port=0):
    return (f"skydns.local:{port} {{\n dnssec {{\n  key file {' '.join(keys)}\n }}\n transfer {{\n  to {to}\n }}\n"
            f" etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")


def axfr(port) -> dns.zone.Zone:
    return dns.zone.from_xfr(dns.query.xfr("127.0.0.1", ZONE, port=port, timeout=10, relativize=False),
                             relativize=False)


def check(z: dns.zone.Zone) -> None:
    """Every RRset signed by a key of the zone's DNSKEY set; an NSEC3 for every name and empty non-terminal,
    one chain over all of them."""
    origin = z.origin
    keys = {origin: z.get_rdataset(origin, "DNSKEY")}
    owners = set()
    for name, node in z.nodes.items():
        absolute = name
        for rds in node.rdatasets:
            if rds.rdtype == dns.rdatatype.RRSIG:
                continue
            sigs = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.RRSIG, rds.rdtype)
            assert sigs is not None, (absolute, dns.rdatatype.to_text(rds.rdtype))
            dns.dnssec.validate((absolute, rds), (absolute, sigs), keys)
        if not node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC3):
            owners.add(absolute)
    everything = set(owners)
    for n in owners:  # the empty non-terminals
        while n != origin:
            n = n.parent()
            everything.add(n)
    hashes = sorted(nsec3_hash(n.to_text()) for n in everything)
    chain = {}
    for name, node in z.nodes.items():
        rds = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.NSEC3)
        if rds:
            chain[name.labels[0].decode()] = rds[0].next
    assert sorted(chain) == sorted(b32(h) for h in hashes)
    for i, h in enumerate(hashes):
        assert chain[b32(h)] == hashes[(i + 1) % len(hashes)]


def write_zone(z, path):
    with open(path, "w") as f:
        z.to_file(f, relativize=False)


def test_a_signed_zone_is_transferred_signed(tmp_path, data):
    put_all(data, SERVICES)
    keys = [write_key(tmp_path, ZONE, 13, flags=257), write_key(tmp_path, ZONE, 13)]
    with testing.serve(corefile(data, keys), tmp_path) as srv:
        z = axfr(srv.port)
        check(z)
        soa = z.get_soa().serial
        assert srv.query(ZONE, "SOA").answer[0][0].serial == soa  # queries tell the transfer's serial
        path = tmp_path / "zone.txt"
        write_zone(z, path)
        if shutil.which("ldns-verify-zone"):
            out = subprocess.run(["ldns-verify-zone", str(path)], capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stdout + out.stderr
        if shutil.which("dnssec-verify"):
            out = subprocess.run(["dnssec-verify", "-o", ZONE, str(path)], capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stdout + out.stderr
        # a change: a name added below an empty non-terminal, one deleted; IXFR carries the new signatures,
        # and only what changed is signed again
        made = metric(srv, "skydns_dnssec_signatures_made_total", zone=ZONE)
        data.client.put(f"{data.path}/local/skydns/deep/er/other", json.dumps({"host": "10.0.0.5"}))
        data.client.delete(f"{data.path}/local/skydns/txt")
        assert eventually(lambda: srv.query(ZONE, "SOA").answer[0][0].serial > soa)
        msgs = list(dns.query.xfr("127.0.0.1", ZONE, rdtype=dns.rdatatype.IXFR, serial=soa, port=srv.port,
                                  relativize=False,
                                  timeout=10))
        added = [rrset for m in msgs for rrset in m.answer]
        assert added[1].rdtype == dns.rdatatype.SOA and added[1][0].serial == soa  # incremental, from our serial
        resigned = metric(srv, "skydns_dnssec_signatures_made_total", zone=ZONE) - made
        assert 0 < resigned <= 12, resigned  # the new name, its ENT's and neighbours' NSEC3s, the SOA: not the zone
        assert any(r.rdtype == dns.rdatatype.RRSIG and r.name.to_text() == "other.er.deep.skydns.local."
                   for r in added), added
        z2 = axfr(srv.port)
        check(z2)
        assert z2.get_node("txt.skydns.local.") is None and z2.get_node("other.er.deep.skydns.local.") is not None


def test_a_new_generation_signs_again_and_raises_the_serial(tmp_path, data):
    """When a generation of signatures starts (every three days) the whole zone is signed again with later
    times, and the serial goes up by one: in queries and in transfers alike, so secondaries fetch it."""
    import time

    from skydns.interfaces import ISerialEdit
    from skydns.plugin.dnssec.zone import GENERATION

    put_all(data, SERVICES)
    keys = [write_key(tmp_path, ZONE, 13)]
    with testing.serve(corefile(data, keys), tmp_path) as srv:
        before = axfr(srv.port)
        serial = before.get_soa().serial
        (signed,) = srv.find(ISerialEdit)
        signed.wallclock = lambda: time.time() + GENERATION
        testing.call(signed.renew)
        assert eventually(lambda: srv.query(ZONE, "SOA").answer[0][0].serial == serial + 1)
        assert eventually(lambda: axfr(srv.port).get_soa().serial == serial + 1)
        after = axfr(srv.port)
        sig = lambda z: z.find_rdataset("web.skydns.local.", "RRSIG", "A")[0]  # noqa: E731
        assert sig(after).inception == sig(before).inception + GENERATION
        assert sig(after).expiration - time.time() > 12 * 24 * 3600  # at least twelve days left


@pytest.mark.parametrize("kind", [
    pytest.param("nsd", marks=pytest.mark.skipif(not os.path.exists(NSD), reason="no nsd")),
    pytest.param("knot", marks=pytest.mark.skipif(not os.path.exists(KNOTD), reason="no knotd")),
    pytest.param("named", marks=pytest.mark.skipif(not os.path.exists(NAMED), reason="no named")),
])
@pytest.mark.skipif(not os.path.exists(UNBOUND), reason="no unbound")
def test_a_secondary_behind_a_validating_resolver_answers_validated(tmp_path, data, kind):
    """NSD, Knot or BIND as the secondary of the signed zone, unbound validating with the zone's key as its
    anchor: answers, NXDOMAIN and NODATA all come back with AD; after a change the secondary follows by IXFR
    and the new name validates too."""
    put_all(data, SERVICES)
    keys = [write_key(tmp_path, ZONE, 13, flags=257), write_key(tmp_path, ZONE, 13)]
    port = testing.free_port()
    cls = {"nsd": NSDSecondary, "knot": KnotSecondary, "named": BINDSecondary}[kind]
    secondary = cls(tmp_path / kind, ZONE, port)
    with testing.serve(corefile(data, keys, to=f"127.0.0.1:{secondary.port}", port=port), tmp_path) as srv:
        z = axfr(port)
        ksk = next(rd for rd in z.get_rdataset(ZONE, "DNSKEY") if rd.flags == 257)
        secondary.start()
        resolver = Unbound(tmp_path / "unbound", ZONE, secondary.port, f"{ZONE} 3600 IN DNSKEY {ksk.to_text()}")
        try:
            assert secondary.wait_serial(z.get_soa().serial), secondary.text()[-3000:]
            resolver.start()
            assert resolver.validated("web.skydns.local.", "A").answer
            assert resolver.validated("db.skydns.local.", "SRV").answer
            assert resolver.validated("nope.skydns.local.", "A").rcode() == dns.rcode.NXDOMAIN
            assert resolver.validated("deep.skydns.local.", "A").rcode() == dns.rcode.NOERROR  # an ENT
            assert resolver.validated("web.skydns.local.", "TXT").rcode() == dns.rcode.NOERROR  # NODATA
            data.client.put(f"{data.path}/local/skydns/fresh", json.dumps({"host": "10.0.0.77"}))
            assert eventually(lambda: srv.query("fresh.skydns.local.", "A").answer)
            serial = srv.query(ZONE, "SOA").answer[0][0].serial
            assert secondary.wait_serial(serial, timeout=15), secondary.text()[-3000:]
            assert resolver.validated("fresh.skydns.local.", "A").answer[0][0].address == "10.0.0.77"
        finally:
            resolver.stop()
            secondary.stop()
