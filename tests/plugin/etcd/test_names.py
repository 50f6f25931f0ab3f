"""Names that are not plain ASCII, in keys, hosts and queries: answered (a label's bytes are the UTF-8 of the
key's label, as SkyDNS made them) or NXDOMAIN, never an exception; the same through the cache, dnssec and a
transfer."""
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.zone

from helpers import write_key
from skydns import testing

ZONE = "skydns.local."


def name(*labels: bytes) -> dns.name.Name:
    return dns.name.Name(labels + (b"skydns", b"local", b""))


def ask(srv, qname, qtype, do=False):
    q = dns.message.make_query(qname, qtype, want_dnssec=do)
    return dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=3)


def test_non_ascii_and_non_utf8_labels(tmp_path, data):
    raw = data.path.encode() + b"/local/skydns/"
    data.put("web.skydns.local", {"host": "10.0.0.1"})
    data.client.put(raw + b"caf\xe9", b'{"host": "10.0.0.2"}')  # not UTF-8
    data.client.put(raw + b"caf\xc3\xa9", b'{"host": "10.0.0.3"}')  # cafe with an acute accent
    data.client.put(raw + b"y/x1", '{"host": "\U0001f4a9.skydns.local", "port": 1}'.encode())  # not IDNA
    data.client.put(raw + b"z", '{"host": "\u00c9x.org"}'.encode())
    data.client.put(raw + "\U0001f4a9".encode(), b'{"host": "10.0.0.4"}')
    key = write_key(tmp_path, ZONE, 13)
    text = (f"skydns.local:0 {{\n cache\n dnssec {{\n  key file {key}\n }}\n transfer {{\n  to *\n }}\n"
            f" etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n }}\n}}\n")
    with testing.serve(text, tmp_path) as srv:
        # the key's UTF-8 is the name's bytes; bytes that are not UTF-8 meet their key through U+FFFD
        assert ask(srv, name(b"caf\xc3\xa9"), "A").answer[0][0].address == "10.0.0.3"
        assert ask(srv, name(b"caf\xef\xbf\xbd"), "A").answer[0][0].address == "10.0.0.2"
        assert ask(srv, name(b"caf\xe9"), "A").answer[0][0].address == "10.0.0.2"
        # a host that is not IDNA is its labels' UTF-8, inside the zone it is followed
        srv_target = ask(srv, name(b"y"), "SRV").answer[0][0].target
        assert srv_target == name("\U0001f4a9".encode())
        assert ask(srv, srv_target, "A").answer[0][0].address == "10.0.0.4"
        assert ask(srv, name(b"z"), "CNAME").answer[0][0].target.labels[0] == "\u00c9x".encode()
        for qname in (name(b"caf\xe9"), name(b"\xe9\xff"), name(b"y"), name(b"z"), name(b"caf\xc3\xa9"),
                      dns.name.from_text(ZONE)):
            for qtype in ("A", "AAAA", "SRV", "TXT", "MX", "CNAME", "PTR", "NS"):
                for do in (False, True):
                    for _ in range(2):  # the second from the cache
                        r = ask(srv, qname, qtype, do)
                        assert r.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN), (qname, qtype, do, r)
        zone = dns.zone.Zone(ZONE)
        dns.query.inbound_xfr("127.0.0.1", zone, port=srv.port, timeout=5)
        owners = {n.derelativize(zone.origin) for n in zone.nodes}
        assert name(b"caf\xc3\xa9") in owners and name(b"caf\xef\xbf\xbd") in owners
