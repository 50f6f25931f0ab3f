"""The UDP protocol's own send path: replies straight on the socket, failures counted and logged once."""
import socket

from helpers import Logged
from skydns import testing
from skydns.transport import DNSDatagramProtocol, Listener


def test_udp_send_on_the_socket_and_failed_sends_are_counted():
    reactor = testing.reactor()
    proto = DNSDatagramProtocol(Listener("127.0.0.1", 0, None, 10, 10))
    port = testing.call(reactor.listenUDP, 0, proto, interface="127.0.0.1")
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(3)
    try:
        assert proto._sendto is not None  # the socket's own sendto, set when the port started
        with Logged() as logged:
            testing.call(proto.send, b"x" * 70000, client.getsockname())  # EMSGSIZE: lost, counted, logged
            testing.call(proto.send, b"y" * 70000, client.getsockname())
        assert proto._send_errors == 2
        warnings = logged.warnings("skydns.transport")
        assert len(warnings) == 1 and "cannot send a UDP reply" in warnings[0] and "(1 so far)" in warnings[0]
        testing.call(proto.send, b"reply", client.getsockname())
        data, addr = client.recvfrom(100)
        assert data == b"reply" and addr == ("127.0.0.1", port.getHost().port)
    finally:
        client.close()
        testing.call(port.stopListening)
    assert proto._sendto is None
