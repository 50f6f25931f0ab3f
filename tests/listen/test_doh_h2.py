"""skydns's own HTTP/2 for DNS over HTTPS (skydns.listen.doh.h2), spoken to by h2's client state machine over
a real socket (cleartext, HTTP/2 by prior knowledge: the frames are the same as inside TLS; TLS with ALPN
is tested with httpx, kdig, dig and h2load in test_encrypted_transports and bench/encrypted.py)."""
import base64
import socket
import time

import dns.message
import dns.rcode
import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from helpers import fakeplugins
from skydns import testing
from skydns.listen.doh import h2frames as f

QUERY = dns.message.make_query("www.example.org.", "A", id=4242).to_wire()
POST = [(":method", "POST"), (":scheme", "http"), (":authority", "localhost"), (":path", "/dns-query"),
        ("content-type", "application/dns-message")]


class Client:
    """One HTTP/2 connection to the server, driven by hand: send, then read events until a condition."""

    def __init__(self, port: int, window: int | None = None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        if window is not None:
            self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.events: list = []
        self.closed = False
        self.cut_off = False
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and not self.cut_off:
            try:
                self.sock.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                # The server closed the connection (after its GOAWAY) while this client still wrote, as the
                # flood tests provoke: what the server sent before closing is still there to read.
                self.cut_off = True

    def post(self, body: bytes = QUERY, headers=POST, end: bool = True) -> int:
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, headers, end_stream=not body and end)
        if body:
            self.conn.send_data(sid, body, end_stream=end)
        self.flush()
        return sid

    def until(self, done, timeout: float = 5) -> list:
        end = time.monotonic() + timeout
        while not done(self.events):
            if self.closed or time.monotonic() > end:
                raise AssertionError(f"gave up waiting; events: {self.events[-10:]}")
            self.sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except ConnectionError:
                data = b""
            if not data:
                self.closed = True
                continue
            events = self.conn.receive_data(data)
            for e in events:  # the client reads what comes: the server's window opens again
                if isinstance(e, h2.events.DataReceived) and e.flow_controlled_length:
                    self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            self.events += events
            self.flush()
        return self.events

    def responses(self) -> dict:
        """stream -> (status, headers, body) of the streams that ended."""
        out: dict = {}
        for e in self.events:
            if isinstance(e, h2.events.ResponseReceived):
                out.setdefault(e.stream_id, [None, None, b""])[:2] = [dict(e.headers)[":status"], dict(e.headers)]
            elif isinstance(e, h2.events.DataReceived):
                out.setdefault(e.stream_id, [None, None, b""])[2] += e.data
        ended = {e.stream_id for e in self.events if isinstance(e, h2.events.StreamEnded)}
        return {sid: tuple(v) for sid, v in out.items() if sid in ended}

    def ended(self, *sids):
        return lambda events: {e.stream_id for e in events if isinstance(e, (h2.events.StreamEnded,
                                                                              h2.events.StreamReset))} >= set(sids)

    def close(self) -> None:
        self.sock.close()


def goaway(events):
    return next((e for e in events if isinstance(e, h2.events.ConnectionTerminated)), None)


@pytest.fixture
def server(tmp_path):
    port = testing.free_port()
    text = f"https://.:{port} {{\n whoami\n}}\nhttps://slow.example:{port} {{\n slow 1 192.0.2.9\n}}\n"
    with testing.serve(text, tmp_path, fakeplugins.registry()):
        yield port


def test_many_posts_and_a_get_on_one_connection(server):
    c = Client(server)
    sids = [c.post() for _ in range(50)]
    q = dns.message.make_query("www.example.org.", "A")
    q.id = 0
    dns_param = base64.urlsafe_b64encode(q.to_wire()).rstrip(b"=").decode()
    get = c.post(b"", [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"),
                       (":path", f"/dns-query?dns={dns_param}")])
    c.until(c.ended(*sids, get))
    responses = c.responses()
    for sid in sids + [get]:
        status, headers, body = responses[sid]
        assert status == "200" and headers["content-type"] == "application/dns-message"
        assert int(headers["content-length"]) == len(body) and headers["cache-control"] == "max-age=0"
        assert dns.message.from_wire(body).rcode() == dns.rcode.NOERROR
    assert dns.message.from_wire(responses[get][2]).id == 0
    assert goaway(c.events) is None


@pytest.mark.parametrize("headers, body, status", [
    ([(":method", "POST"), (":scheme", "http"), (":authority", "localhost"), (":path", "/dns-query"), ("content-type", "text/plain")], QUERY, "415"),
    ([(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/dns-query")], b"", "400"),
    ([(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/dns-query?dns=%%%")], b"", "400"),
    ([(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/other")], b"", "404"),
    ([(":method", "PUT"), (":scheme", "http"), (":authority", "localhost"), (":path", "/dns-query")], QUERY, "405"),
    (POST, b"short", "400"),
], ids=["415", "400-missing", "400-base64", "404", "405", "400-short"])
def test_rfc8484_errors(server, headers, body, status):
    c = Client(server)
    sid = c.post(body, headers)
    c.until(c.ended(sid))
    got = c.responses()[sid]
    assert got[0] == status and got[1]["content-type"] == "text/plain"
    assert int(got[1]["content-length"]) == len(got[2])
    if status == "405":
        assert got[1]["allow"] == "GET, POST"
    ok = c.post()  # the connection goes on
    c.until(c.ended(ok))
    assert c.responses()[ok][0] == "200"


def test_a_body_announced_too_large_is_refused_at_its_headers(server):
    c = Client(server)
    sid = c.post(b"", POST + [("content-length", "70000")], end=False)
    c.until(lambda ev: goaway(ev) is not None)
    assert c.responses()[sid][0] == "413"


def test_a_body_sent_too_large_is_refused_and_the_connection_closed(server):
    """Past 65,535 bytes of DATA (a client that ignores the stream's window): 413, GOAWAY, closed."""
    import hpack

    s = socket.create_connection(("127.0.0.1", server), timeout=5)
    s.sendall(f.PREFACE + f.settings({}) + f.frame(f.HEADERS, f.END_HEADERS, 1, hpack.Encoder().encode(POST))
              + b"".join(f.frame(f.DATA, 0, 1, b"x" * 14000) for _ in range(5)))
    frames = raw_frames(s, lambda fr: any(t == f.GOAWAY for t, *_ in fr))
    headers = next(p for t, _, sid, p in frames if t == f.HEADERS and sid == 1)
    assert (b":status", b"413") in hpack.Decoder().decode(headers, raw=True)
    assert _goaway_code(b"".join(f.frame(t, fl, sid, p) for t, fl, sid, p in frames)) == f.NO_ERROR


def test_answers_wait_for_the_client_window(server):
    """The client allows 10 bytes a stream: the answer comes in pieces, as WINDOW_UPDATEs come."""
    c = Client(server, window=10)
    c.until(lambda ev: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in ev))
    sid = c.post()
    c.until(c.ended(sid))
    data = [e for e in c.events if isinstance(e, h2.events.DataReceived)]
    assert len(data) > 3 and max(len(e.data) for e in data) <= 10
    body = c.responses()[sid][2]
    assert dns.message.from_wire(body).rcode() == dns.rcode.NOERROR


def test_streams_past_the_limit_are_refused(server):
    slow = dns.message.make_query("a.slow.example.", "A").to_wire()
    c = Client(server)
    sids = [c.post(slow) for _ in range(129)]
    c.until(c.ended(sids[-1]))
    assert any(isinstance(e, h2.events.StreamReset) and e.stream_id == sids[-1] and e.error_code == f.REFUSED_STREAM
               for e in c.events)
    c.until(c.ended(*sids[:128]), timeout=10)
    responses = c.responses()
    assert all(responses[s][0] == "200" for s in sids[:128])


def test_a_stream_reset_by_the_client_gets_no_answer(server):
    slow = dns.message.make_query("a.slow.example.", "A").to_wire()
    c = Client(server)
    gone = c.post(slow)
    c.conn.reset_stream(gone)
    c.flush()
    kept = c.post(slow)
    c.until(c.ended(kept))
    last = c.post()  # answered after anything that was due with the kept stream's answer
    c.until(c.ended(last))
    assert gone not in c.responses() and c.responses()[kept][0] == "200"
    assert goaway(c.events) is None


def raw_frames(sock, until, timeout: float = 5) -> list:
    """(type, flags, stream, payload) of the frames the server sends, read until ``until(frames)``."""
    sock.settimeout(timeout)
    data, frames = b"", []
    while not until(frames):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        while len(data) >= 9:
            hi, lo, ftype, flags, sid = f.HEAD.unpack_from(data)
            length = hi << 16 | lo
            if len(data) < 9 + length:
                break
            frames.append((ftype, flags, sid, data[9:9 + length]))
            data = data[9 + length:]
    return frames


def test_headers_split_over_continuation_frames(server):
    """A header block in a HEADERS frame and two CONTINUATIONs (raw frames: h2's client never splits one)."""
    import hpack

    block = hpack.Encoder().encode(POST + [("x-pad", "p" * 40)])
    s = socket.create_connection(("127.0.0.1", server), timeout=5)
    s.sendall(f.PREFACE + f.settings({}) + f.frame(f.HEADERS, 0, 1, block[:10])
              + f.frame(f.CONTINUATION, 0, 1, block[10:20]) + f.frame(f.CONTINUATION, f.END_HEADERS, 1, block[20:])
              + f.frame(f.DATA, f.END_STREAM, 1, QUERY))
    frames = raw_frames(s, lambda fr: any(t == f.DATA and sid == 1 and fl & f.END_STREAM for t, fl, sid, _ in fr))
    headers = next(p for t, _, sid, p in frames if t == f.HEADERS and sid == 1)
    assert (b":status", b"200") in hpack.Decoder().decode(headers, raw=True)
    body = b"".join(p for t, _, sid, p in frames if t == f.DATA and sid == 1)
    assert dns.message.from_wire(body).rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize("raw, code", [
    (f.frame(f.HEADERS, f.END_HEADERS | f.END_STREAM, 2, b"\x83"), f.PROTOCOL_ERROR),  # an even stream
    (f.frame(f.PING, 0, 0, b"\x00" * 20000), f.FRAME_SIZE_ERROR),  # past the frame size
    (f.frame(f.SETTINGS, 0, 0, b"\x00" * 5), f.FRAME_SIZE_ERROR),
    (f.frame(f.WINDOW_UPDATE, 0, 0, b"\x00\x00\x00\x00"), f.PROTOCOL_ERROR),
    (f.frame(f.HEADERS, f.END_HEADERS, 1, b"\xff\xff\xff\xff\xff"), f.COMPRESSION_ERROR),
    (f.frame(f.CONTINUATION, f.END_HEADERS, 1, b"\x83"), f.PROTOCOL_ERROR),
], ids=["even-stream", "frame-size", "settings-size", "zero-window-update", "hpack", "lone-continuation"])
def test_connection_errors_are_named_in_goaway(server, raw, code):
    s = socket.create_connection(("127.0.0.1", server), timeout=5)
    s.sendall(f.PREFACE + f.settings({}) + raw)
    frames = raw_frames(s, lambda fr: any(t == f.GOAWAY for t, *_ in fr))
    assert _goaway_code(b"".join(f.frame(t, fl, sid, p) for t, fl, sid, p in frames)) == code
    assert s.recv(100) == b""  # closed


def _goaway_code(data: bytes):
    pos = 0
    while pos + 9 <= len(data):
        hi, lo, ftype, _flags, _sid = f.HEAD.unpack_from(data, pos)
        length = hi << 16 | lo
        if ftype == f.GOAWAY:
            return int.from_bytes(data[pos + 13:pos + 17], "big")
        pos += 9 + length
    return None


def test_not_a_preface_is_closed(server):
    s = socket.create_connection(("127.0.0.1", server), timeout=5)
    s.sendall(b"PRI * HTTP/1.1\r\n\r\nXX\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    assert _goaway_code(data) == f.PROTOCOL_ERROR


def test_pings_are_answered_but_a_flood_is_cut_off(server):
    c = Client(server)
    c.conn.ping(b"12345678")
    c.flush()
    c.until(lambda ev: any(isinstance(e, h2.events.PingAckReceived) for e in ev))
    assert next(e for e in c.events if isinstance(e, h2.events.PingAckReceived)).ping_data == b"12345678"
    c.sock.sendall(b"".join(f.frame(f.PING, 0, 0, b"%08d" % i) for i in range(400)))
    c.until(lambda ev: goaway(ev) is not None)
    assert goaway(c.events).error_code == f.ENHANCE_YOUR_CALM


def test_over_tls_a_connection_error_closes_the_connection(tmp_path):
    """Inside TLS (ALPN h2): a broken frame gets its GOAWAY and the connection is closed, not left open."""
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
    port = testing.free_port()
    with testing.serve(f"https://.:{port} {{\n tls {cert} {key}\n whoami\n}}\n", tmp_path):
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5))
        assert s.selected_alpn_protocol() == "h2"
        s.sendall(f.PREFACE + f.settings({}) + f.frame(f.HEADERS, f.END_HEADERS, 2, b"\x83"))
        frames = raw_frames(s, lambda fr: any(t == f.GOAWAY for t, *_ in fr))
        assert _goaway_code(b"".join(f.frame(t, fl, sid, p) for t, fl, sid, p in frames)) == f.PROTOCOL_ERROR
        s.settimeout(5)
        try:
            assert s.recv(100) == b""
        except (ConnectionError, ssl.SSLError):
            pass  # closed without close_notify: closed all the same


def test_rapid_reset_is_cut_off(server):
    """Streams opened and reset at once while their queries are out (CVE-2023-44487): past the budget,
    GOAWAY ENHANCE_YOUR_CALM; the slow answers of the reset streams are never sent."""
    slow = dns.message.make_query("a.slow.example.", "A").to_wire()
    c = Client(server)
    for _ in range(250):
        sid = c.post(slow)
        c.conn.reset_stream(sid)
    c.flush()
    c.until(lambda ev: goaway(ev) is not None)
    assert goaway(c.events).error_code == f.ENHANCE_YOUR_CALM and not c.responses()
