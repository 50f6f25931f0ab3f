"""Every pair of registered directives in one block with etcd, asked over UDP, TCP, DoT and DoH: A, SRV, PTR,
a missing name, AXFR and an UPDATE. No pair may cause a SERVFAIL, a dropped query or a logged exception.

The pairs come from the registry (skydns.testing.combinations), each directive with its setup's ``example``:
a plugin joins by being registered. One server per first directive reloads through its pairs (the etcd copy
and the listeners stay), so the whole matrix runs in seconds.
"""
from __future__ import annotations

import base64
import collections
import http.client
import ssl
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import pytest
from twisted.logger import formatEvent

from helpers import Logged, write_key
from helpers.certs import make_pki
from skydns import testing
from skydns.config.registry import Registry
from skydns.testing import combinations

pytestmark = pytest.mark.integration
ZONE = "skydns.local."
BASE = ("etcd", "tls", "bind")  # every block here: the data, the certificate for tls:// and https://, loopback
REGISTRY = Registry()
PAIRS = combinations.pairs(REGISTRY, base=BASE)
BY_FIRST = collections.defaultdict(list)
for _a, _b in PAIRS:
    BY_FIRST[_a].append((_a, _b))
SECRET = base64.b64encode(b"combinations-test-tsig-secret-32b").decode()
TOKEN = "combination-token"


@pytest.fixture(scope="module")
def world(tmp_path_factory, etcd, request):
    """The data, files and peers every combination uses, made once."""
    from helpers.upstreams import Upstream
    from skydns.testing.etcd import EtcdData

    tmp = tmp_path_factory.mktemp("combinations")
    data = EtcdData(etcd)
    data.put("web.skydns.local", {"host": "127.0.0.1", "port": 80})
    data.put("x1.db.skydns.local", {"host": "127.0.0.2", "port": 5432})
    data.put("x2.db.skydns.local", {"host": "127.0.0.3", "port": 5432})
    data.put_key("/arpa/in-addr/127/0/0/1", '{"host": "web.skydns.local"}')
    upstream = Upstream(address="192.0.2.53")
    pki = make_pki(tmp)
    ports = {k: testing.free_port() for k in ("dns", "tls", "https", "http")}
    fills = {"zone": ZONE, "zones": f"{ZONE} in-addr.arpa.", "upstream": upstream.addr,
             "http_port": ports["http"], "api_token": TOKEN, "tls_cert": pki["server"],
             "tls_key": pki["server_key"], "dnssec_key": write_key(tmp, ZONE, 13), "tsig_key": "matrix",
             "tsig_secret": SECRET, "etcd_path": data.path, "etcd_endpoint": data.server.url}
    keys = (f"skydns.local:{ports['dns']} in-addr.arpa:{ports['dns']} tls://skydns.local:{ports['tls']} "
            f"tls://in-addr.arpa:{ports['tls']} https://skydns.local:{ports['https']} "
            f"https://in-addr.arpa:{ports['https']}")
    ctx = ssl.create_default_context(cafile=pki["ca"])
    yield {"tmp": tmp, "data": data, "fills": fills, "keys": keys, "ports": ports, "ctx": ctx}
    upstream.close()
    data.close()


class Clients:
    """A client per transport, connections kept for the pair (DoT and DoH handshakes once)."""

    def __init__(self, world):
        self.ports, self.ctx = world["ports"], world["ctx"]
        self.tls = None
        self.http = http.client.HTTPSConnection("127.0.0.1", self.ports["https"], context=self.ctx, timeout=5)

    def ask(self, transport: str, q: dns.message.Message) -> dns.message.Message:
        p = self.ports
        if transport == "udp":
            return dns.query.udp(q, "127.0.0.1", port=p["dns"], timeout=5)
        if transport == "tcp":
            return dns.query.tcp(q, "127.0.0.1", port=p["dns"], timeout=5)
        if transport == "tls":
            if self.tls is None:
                import socket

                raw = socket.create_connection(("127.0.0.1", p["tls"]), timeout=5)
                self.tls = self.ctx.wrap_socket(raw, server_hostname="localhost")
            return dns.query.tls(q, "127.0.0.1", port=p["tls"], sock=self.tls, timeout=5)
        self.http.request("POST", "/dns-query", q.to_wire(), {"Content-Type": "application/dns-message",
                                                              "Accept": "application/dns-message"})
        response = self.http.getresponse()
        body = response.read()
        if response.status != 200:
            raise OSError(f"DoH: HTTP {response.status}")
        return dns.message.from_wire(body)

    def close(self):
        if self.tls is not None:
            self.tls.close()
        self.http.close()


def check(pair, clients) -> list[str]:
    """What went wrong with this pair: a SERVFAIL, no answer where there is one, a wrong refusal."""
    problems = []
    for transport in ("udp", "tcp", "tls", "https"):
        for name, qtype, rcode in (("web.skydns.local.", "A", dns.rcode.NOERROR),
                                   ("db.skydns.local.", "SRV", dns.rcode.NOERROR),
                                   ("1.0.0.127.in-addr.arpa.", "PTR", dns.rcode.NOERROR),
                                   ("nope.skydns.local.", "A", dns.rcode.NXDOMAIN)):
            q = dns.message.make_query(name, qtype, want_dnssec=transport == "tcp")
            try:
                r = clients.ask(transport, q)
            except Exception as e:  # a dropped query or a broken connection
                problems.append(f"{transport} {name} {qtype}: {type(e).__name__}: {e}")
                continue
            if r.rcode() != rcode or (rcode == dns.rcode.NOERROR and not r.answer):
                problems.append(f"{transport} {name} {qtype}: {dns.rcode.to_text(r.rcode())}, "
                                f"{len(r.answer)} answers")
    for rdtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
        what = dns.rdatatype.to_text(rdtype)
        try:
            msgs = list(dns.query.xfr("127.0.0.1", ZONE, rdtype=rdtype, serial=1, port=clients.ports["dns"],
                                      timeout=10, lifetime=10))
            if "transfer" not in pair:
                problems.append(f"{what} answered without transfer")
            elif msgs[0].answer[0].rdtype != dns.rdatatype.SOA:
                problems.append(f"{what} does not start with the SOA")
        except dns.query.TransferError as e:
            if "transfer" in pair or e.rcode != dns.rcode.REFUSED:
                problems.append(f"{what}: {e}")
        except Exception as e:
            problems.append(f"{what}: {type(e).__name__}: {e}")
    u = dns.update.UpdateMessage(ZONE, keyring=dns.tsigkeyring.from_text({"matrix": SECRET}), keyname="matrix")
    u.replace("u.skydns.local.", 60, "A", "127.0.0.50")
    try:
        r = dns.query.tcp(u, "127.0.0.1", port=clients.ports["dns"], timeout=10)
        want = dns.rcode.NOERROR if "update" in pair else dns.rcode.NOTIMP
        if r.rcode() != want:
            problems.append(f"UPDATE: {dns.rcode.to_text(r.rcode())}, expected {dns.rcode.to_text(want)}")
    except Exception as e:
        if "update" in pair or "tsig" not in str(e).lower():  # without update, an unsigned NOTIMP is fair
            problems.append(f"UPDATE: {type(e).__name__}: {e}")
    return problems


def failures(logged) -> list[str]:
    return [formatEvent(e) + ("\n" + e["log_failure"].getTraceback() if e.get("log_failure") else "")
            for e in logged.events
            if e.get("log_failure") is not None or e["log_level"].name in ("error", "critical")]


@pytest.mark.parametrize("first", sorted(BY_FIRST))
def test_every_pair_serves_together(world, first):
    pairs = BY_FIRST[first]
    texts = {pair: combinations.corefile(world["keys"], pair, REGISTRY, world["fills"], BASE) for pair in pairs}
    broken = []
    started = time.monotonic()
    directory = world["tmp"] / first
    directory.mkdir()
    with testing.serve(texts[pairs[0]], directory) as srv:
        for pair in pairs:
            if pair != pairs[0]:
                srv.write(texts[pair])
                if not srv.reload():
                    broken.append(f"{pair}: the configuration does not load:\n{texts[pair]}")
                    continue
            clients = Clients(world)
            with Logged() as logged:
                try:
                    problems = check(pair, clients)
                finally:
                    clients.close()
            problems += failures(logged)
            if problems:
                broken.append(f"{pair}:\n  " + "\n  ".join(problems) + f"\n{texts[pair]}")
    print(f"\n{first}: {len(pairs)} pairs in {time.monotonic() - started:.1f}s")
    assert not broken, "\n".join(broken)
