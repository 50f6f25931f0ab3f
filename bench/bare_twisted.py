"""The Python limit: a bare Twisted DatagramProtocol answering a pre-rendered reply.

It only copies the query's ID into a reply rendered at start-up: no parsing,
no routing, no plugins. ``python bench/bare_twisted.py PORT``.

``--tcp``: also over TCP. ``--echo``: an upstream for any name instead: the query's header and question copied,
with one A record (127.0.0.1, TTL 300) for it (what a forwarder of random names needs).
"""
import struct
import sys

import dns.message
import dns.rrset
from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol, Factory, Protocol


def prerendered() -> bytes:
    q = dns.message.make_query("example.org.", "A")
    r = dns.message.make_response(q)
    r.additional.append(dns.rrset.from_text("example.org.", 0, "IN", "A", "127.0.0.1"))
    return r.to_wire()


class Bare(DatagramProtocol):
    def __init__(self):
        self.tail = prerendered()[2:]

    def datagramReceived(self, data, addr):
        self.transport.write(data[:2] + self.tail, addr)


class Echo(DatagramProtocol):
    ANSWER = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\x7f\x00\x00\x01"

    def datagramReceived(self, data, addr):
        end = data.find(b"\x00", 12) + 5
        if end < 17:
            return
        self.transport.write(data[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + data[12:end] + self.ANSWER,
                             addr)


class BareStream(Protocol):
    """The same over TCP (two-byte length framing): for proxies that forward DoT and DoH over TCP."""

    def connectionMade(self):
        self.buf = b""
        self.tail = prerendered()[2:]

    def dataReceived(self, data):
        buf = self.buf + data
        out = []
        while len(buf) >= 2:
            end = 2 + (buf[0] << 8 | buf[1])
            if len(buf) < end:
                break
            out.append(struct.pack("!H", len(self.tail) + 2) + buf[2:4] + self.tail)
            buf = buf[end:]
        self.buf = buf
        if out:
            self.transport.write(b"".join(out))


if __name__ == "__main__":
    reactor.listenUDP(int(sys.argv[1]), Echo() if "--echo" in sys.argv else Bare(), interface="127.0.0.1")
    if "--tcp" in sys.argv:
        reactor.listenTCP(int(sys.argv[1]), Factory.forProtocol(BareStream), interface="127.0.0.1")
    reactor.run()
