"""The listeners' TLS on the standard library's ssl (skydns.listen.tlsserver), without sockets: a client
SSLObject on one side, the server protocol over a StringTransport on the other, bytes carried by hand."""
import ssl

import pytest
from twisted.internet import task
from twisted.internet.protocol import Protocol
from twisted.internet.testing import StringTransport

from helpers.certs import make_pki
from skydns.listen.flusher import Flusher
from skydns.listen.tlsconfig import ServerTLS, SwappableServerTLS
from skydns.listen.tlsserver import TLSServerFactory


class Inner(Protocol):
    """What the protocol inside gets, and a way to write from it."""

    def __init__(self, greeting: bytes = b""):
        self.greeting = greeting
        self.received: list[bytes] = []
        self.lost = None

    def connectionMade(self):
        if self.greeting:  # as HTTP/2's SETTINGS: written before the handshake is done
            self.transport.write(self.greeting)

    def dataReceived(self, data):
        self.received.append(data)

    def connectionLost(self, reason=None):
        self.lost = reason


class Wire(StringTransport):
    """The TCP side: counts the writes (each a send)."""

    def __init__(self):
        super().__init__()
        self.writes = 0
        self.aborted = False

    def write(self, data):
        self.writes += 1
        super().write(data)

    def abortConnection(self):
        self.aborted = True


class Pair:
    """A client SSLObject and a server TLSServerProtocol, and the bytes between them."""

    def __init__(self, pki, alpn=(b"dot",), client_alpn=("dot",), client_auth="nocert", client_cert=False,
                 flusher=None, greeting=b"", server_tls=None, context=None, session=None):
        config = ServerTLS(pki["server"], pki["server_key"], pki["ca"] if client_auth != "nocert" else None,
                           client_auth)
        self.inner = Inner(greeting)
        self.tls = server_tls or SwappableServerTLS(config, alpn)
        factory = TLSServerFactory(self.tls, None, flusher)
        factory.wrappedFactory = type("F", (), {"buildProtocol": lambda _s, addr: self.inner})()
        self.server = factory.buildProtocol(None)
        self.wire = Wire()
        self.server.makeConnection(self.wire)
        ctx = self.context = context or ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(pki["ca"])
        if client_alpn:
            ctx.set_alpn_protocols(list(client_alpn))
        if client_cert:
            ctx.load_cert_chain(pki["client"], pki["client_key"])
        self.cin, self.cout = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.client = ctx.wrap_bio(self.cin, self.cout, server_hostname="localhost", session=session)

    def to_server(self):
        data = self.cout.read()
        if data:
            self.server.dataReceived(data)

    def to_client(self):
        data = self.wire.value()
        self.wire.clear()
        if data:
            self.cin.write(data)

    def handshake(self):
        for _ in range(10):
            try:
                self.client.do_handshake()
                self.to_server()
                self.to_client()
                return
            except ssl.SSLWantReadError:
                self.to_server()
                self.to_client()
        raise AssertionError("no handshake")

    def client_reads(self) -> bytes:
        self.to_client()
        out = b""
        while True:
            try:
                chunk = self.client.read(65536)
            except ssl.SSLWantReadError:
                return out
            if not chunk:
                return out
            out += chunk


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_queries_in_and_answers_out_with_alpn(pki):
    pair = Pair(pki, alpn=(b"h2", b"http/1.1"), client_alpn=("http/1.1", "h2"))
    pair.handshake()
    assert pair.server.negotiatedProtocol == b"h2"  # our preference, among what the client offers
    pair.client.write(b"query one")
    pair.client.write(b"query two")
    pair.to_server()
    assert b"".join(pair.inner.received) == b"query onequery two"
    pair.server.write(b"answer")
    pair.server.writeSequence([b" and", b" more"])
    assert pair.client_reads() == b"answer and more"


def test_a_client_offering_none_of_our_protocols_gets_no_alpn(pki):
    pair = Pair(pki, alpn=(b"dot",), client_alpn=("imap",))
    pair.handshake()
    assert pair.server.negotiatedProtocol is None and pair.client.selected_alpn_protocol() is None


def test_what_is_written_before_the_handshake_goes_out_after_it(pki):
    pair = Pair(pki, greeting=b"SETTINGS")
    assert pair.wire.value() == b""  # nothing in clear
    pair.handshake()
    assert pair.client_reads() == b"SETTINGS"


def test_answers_of_one_reactor_pass_leave_in_one_write(pki):
    clock = task.Clock()
    pair = Pair(pki, flusher=Flusher(clock))
    pair.handshake()
    before = pair.wire.writes
    for i in range(20):
        pair.server.write(b"answer %d;" % i)
    assert pair.wire.writes == before  # held until the pass is over
    clock.advance(0)
    assert pair.wire.writes == before + 1
    assert pair.client_reads() == b"".join(b"answer %d;" % i for i in range(20))
    pair.server.write(b"x" * 70000)  # past what is joined: out at once
    assert pair.wire.writes == before + 2


def test_close_notify_both_ways(pki):
    pair = Pair(pki)
    pair.handshake()
    with pytest.raises(ssl.SSLWantReadError):
        pair.client.unwrap()  # the client's close_notify; it waits for ours
    pair.to_server()
    assert pair.wire.disconnecting
    pair.to_client()
    pair.client.unwrap()  # ours came: a clean close
    pair.server.connectionLost(None)
    assert pair.inner.lost is None and pair.server.inner is None  # told once, and let go


def test_lose_connection_from_inside_sends_close_notify_after_the_answer(pki):
    pair = Pair(pki)
    pair.handshake()
    pair.server.write(b"last answer")
    pair.server.loseConnection()
    assert pair.wire.disconnecting
    assert pair.client_reads() == b"last answer"  # then b"" read: the close_notify
    pair.server.write(b"too late")
    assert pair.wire.value() == b""


@pytest.mark.parametrize("garbage", [b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\x05hello"])
def test_what_is_not_tls_is_closed(pki, garbage):
    pair = Pair(pki)
    pair.server.dataReceived(garbage)
    assert pair.wire.disconnecting and pair.inner.received == []


def test_a_record_that_does_not_decrypt_closes_the_connection(pki):
    pair = Pair(pki)
    pair.handshake()
    pair.client.write(b"a query")
    record = bytearray(pair.cout.read())
    record[-1] ^= 0xFF  # the tag no longer matches
    pair.server.dataReceived(bytes(record))
    assert pair.wire.disconnecting and pair.inner.received == []


@pytest.mark.parametrize("client_cert", [False, True])
def test_client_certificates_if_given(pki, client_cert):
    pair = Pair(pki, client_auth="verify_if_given", client_cert=client_cert)
    pair.handshake()
    pair.client.write(b"q")
    pair.to_server()
    assert pair.inner.received == [b"q"]
    cert = pair.server.getPeerCertificate()
    assert (cert is not None) == client_cert


def test_a_required_certificate_missing_is_refused(pki):
    pair = Pair(pki, client_auth="require_and_verify")
    with pytest.raises(ssl.SSLError):
        pair.handshake()
        pair.client.write(b"q")
        pair.to_server()
        pair.client_reads()
    assert pair.wire.disconnecting and pair.inner.received == []


def test_the_whole_chain_is_sent(tmp_path):
    """A certificate file with an intermediate after the certificate: a client that trusts only the root
    verifies it (the DoT/DoH listeners and the HTTPS of the records API share this TLS)."""
    pki = make_pki(tmp_path)
    pki["server"] = pki["server_chain"]
    pair = Pair(pki)
    pair.handshake()  # the client checks the chain against the root CA: an error here if it lacks the link
    assert pair.client.getpeercert()["subject"] == ((("commonName", "server"),),)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_a_returning_client_resumes_its_session(pki, version):
    """Session tickets: a client that comes back skips the full handshake (no certificate, no signature)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.maximum_version = version
    first = Pair(pki, context=context)
    first.handshake()
    first.server.write(b"answer")  # TLS 1.3's ticket comes after the handshake: read with the answer
    assert first.client_reads() == b"answer" and not first.client.session_reused
    again = Pair(pki, server_tls=first.tls, context=context, session=first.client.session)
    again.handshake()
    assert again.client.session_reused and again.client.version() == first.client.version()
