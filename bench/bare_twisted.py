"""The Python limit: a bare Twisted DatagramProtocol answering a pre-rendered reply.

It only copies the query's ID into a reply rendered at start-up: no parsing,
no routing, no plugins. ``python bench/bare_twisted.py PORT``.
"""
import sys

import dns.message
import dns.rrset
from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol


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


if __name__ == "__main__":
    reactor.listenUDP(int(sys.argv[1]), Bare(), interface="127.0.0.1")
    reactor.run()
