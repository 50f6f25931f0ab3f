"""Random and mutated packets over UDP and TCP at a server with a full chain.

Nothing may escape as an unhandled error in the log, nothing that is a response
(QR=1) may be answered, and the server answers well-formed queries afterwards.
A few seconds in ``make test``; ``pytest tests/test_fuzz.py --fuzz-seconds 60`` for longer.
"""
from __future__ import annotations

import random
import select
import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from helpers import Logged
from skydns import testing

COREFILE = """\
example.org:0 {
 errors
 any
 chaos
 loadbalance
 acl {
  block type AXFR
 }
 cache
 records example.org {
  www 60 IN A 192.0.2.1
  www 60 IN A 192.0.2.2
  txt 60 IN TXT "hello"
  alias 60 IN CNAME www
 }
}
.:0 {
 errors
 cache
 whoami
}
"""

NAMES = ["www.example.org.", "txt.example.org.", "alias.example.org.", "nope.example.org.", "example.org.",
         "version.bind.", "x.example.net.", "."]
TYPES = ["A", "AAAA", "TXT", "ANY", "MX", "SRV", "CNAME", "SOA", "AXFR", "DS", "TYPE65280"]


def valid_query(rnd: random.Random) -> bytes:
    kw: dict = {}
    if rnd.random() < 0.6:
        kw["use_edns"] = 0
        kw["want_dnssec"] = rnd.random() < 0.3
        if rnd.random() < 0.3:
            kw["options"] = [dns.edns.GenericOption(rnd.choice((10, 8, 12, 65001)), rnd.randbytes(rnd.randrange(0, 40)))]
    q = dns.message.make_query(rnd.choice(NAMES), rnd.choice(TYPES), rdclass=rnd.choice((1, 1, 1, 3, 4, 254)), **kw)
    return q.to_wire()


def mutate(rnd: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rnd.randrange(1, 6)):
        choice = rnd.random()
        if choice < 0.4 and b:
            b[rnd.randrange(len(b))] = rnd.randrange(256)  # a byte changed
        elif choice < 0.55 and len(b) > 1:
            del b[rnd.randrange(1, len(b)):]  # cut short
        elif choice < 0.7:
            b += rnd.randbytes(rnd.randrange(1, 30))  # trailing garbage
        elif choice < 0.85 and len(b) >= 12:
            struct.pack_into("!H", b, rnd.choice((4, 6, 8, 10)), rnd.randrange(0, 4))  # a section count
        elif len(b) >= 3:
            b[2] ^= 1 << rnd.randrange(1, 7)  # opcode, AA, TC bits (never QR here)
    return bytes(b)


def packets(rnd: random.Random, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        r = rnd.random()
        if r < 0.15:
            out.append(rnd.randbytes(rnd.randrange(0, 100)))
        elif r < 0.3:
            out.append(valid_query(rnd))
        else:
            out.append(mutate(rnd, valid_query(rnd)))
    return out


def as_response(packet: bytes) -> bytes:
    if len(packet) < 3:
        return b"\x00\x00\x80" + packet
    return packet[:2] + bytes((packet[2] | 0x80,)) + packet[3:]


def drain(sock: socket.socket, wait: float) -> list[bytes]:
    got = []
    end = time.monotonic() + wait
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return got
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            return got
        try:
            got.append(sock.recv(65535))
        except OSError:
            return got


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = testing.start(COREFILE, tmp_path_factory.mktemp("fuzz"), testing.registry(testing.RecordsSetup()))
    yield srv
    srv.stop()


def unhandled(logged: Logged) -> list[str]:
    return [str(e.get("log_failure") or e.get("log_format")) for e in logged.events
            if e["log_level"].name in ("error", "critical")]


def test_fuzz_udp(server, fuzz_seconds):
    rnd = random.Random(2026)
    ports = sorted(set(server.ports().values()))
    with Logged() as logged, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        end = time.monotonic() + fuzz_seconds
        sent = 0
        while time.monotonic() < end:
            batch = packets(rnd, 200)
            for p in batch:
                s.sendto(p, ("127.0.0.1", rnd.choice(ports)))
            sent += len(batch)
            drain(s, 0.01)
        drain(s, 0.5)
        # Responses are never answered (that is how loops between servers start).
        for p in packets(rnd, 300):
            s.sendto(as_response(p), ("127.0.0.1", rnd.choice(ports)))
        assert drain(s, 0.5) == []
        assert sent > 1000
    assert unhandled(logged) == []
    for port in ports:
        assert server.query("www.example.org.", "A", port=port).rcode() == dns.rcode.NOERROR


def test_fuzz_tcp(server, fuzz_seconds):
    rnd = random.Random(7)
    ports = sorted(set(server.ports().values()))
    with Logged() as logged:
        end = time.monotonic() + fuzz_seconds
        streams = 0
        while time.monotonic() < end:
            with socket.create_connection(("127.0.0.1", rnd.choice(ports))) as s:
                stream = b"".join(struct.pack("!H", len(p)) + p for p in packets(rnd, rnd.randrange(1, 30)))
                if rnd.random() < 0.3:
                    stream = mutate(rnd, stream)  # the framing itself garbled
                try:
                    s.sendall(stream)
                except OSError:
                    pass
                drain(s, 0.02)
            streams += 1
        # A stream of responses gets nothing back.
        with socket.create_connection(("127.0.0.1", ports[0])) as s:
            s.sendall(b"".join(struct.pack("!H", len(p)) + as_response(p) for p in packets(rnd, 50)
                               if len(as_response(p)) >= 12))
            replies = drain(s, 0.5)
            assert all(r == b"" for r in replies)
        assert streams > 20
    assert unhandled(logged) == []
    assert server.query("www.example.org.", "A", tcp=True).rcode() == dns.rcode.NOERROR
