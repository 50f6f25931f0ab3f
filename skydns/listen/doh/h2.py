"""DNS over HTTPS on HTTP/2, served by skydns itself: one connection, its streams, its flow control.

Twisted's HTTP/2 (h2's state machine under twisted.web's Request) cost about half a millisecond of
CPU per DoH query; a DoH connection asks for little of HTTP/2: requests of one small header block and
one small body, answers of the same. :class:`H2DoH` does just that, per RFC 9113: the preface and
settings, streams opened in order and bounded in number, header blocks through
:class:`~skydns.listen.doh.h2frames.HeaderBlocks`, bodies within the DoH limit, flow control both
ways, PING, RST_STREAM and GOAWAY, errors as the RFC names them. Each query goes to the listener's
server as a TCP one would (``proto`` "tcp"); its stream is the sender the answer comes back to.
Answers made in one pass of the reactor leave in one write (one TLS record, one system call).

The connection reports to its :class:`~skydns.listen.httpbounds.BoundedConnection` (the idle and read
deadlines, the connection cap) as twisted.web's requests do.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from twisted.internet.protocol import Protocol
from twisted.logger import Logger

from skydns.listen.doh import h2frames as h2
from skydns.listen.doh.message import MAX_MESSAGE, max_age
from skydns.listen.doh.streams import DoHStream, judge
from skydns.listen.flusher import Flusher

log = Logger(namespace="skydns.listen.doh")

#: Streams a client may have open at once (RFC 9113 6.5.2 suggests no fewer than 100).
MAX_STREAMS = 128
#: The largest header list a request may carry (decoded).
MAX_HEADER_LIST = 16384
#: The connection's receive window we keep open (a client's bodies are small; many may be in flight).
RECEIVE_WINDOW = 1 << 20
#: Bytes that may wait for a client that does not read, while its requests are not read.
MAX_UNREAD = 1 << 20
#: Control frames (PING, SETTINGS, PRIORITY, RST_STREAM, empty DATA) a client may send per request it makes.
CONTROL_BUDGET = 256

#: Streams a client may reset while their query is still out, beyond those answered (rapid reset, CVE-2023-44487:
#: a reset stream no longer counts against MAX_STREAMS, but its query is still being answered).
RESET_BUDGET = 200

_ENDS = h2.END_STREAM


class H2DoH(Protocol):
    """One HTTP/2 connection of a DoH listener (``listener.server`` answers its queries)."""

    transport: Any

    def __init__(self, listener, flusher: Flusher):
        self.listener, self.flusher = listener, flusher
        self._due = False  # in the flusher's list
        self.blocks = h2.HeaderBlocks(MAX_HEADER_LIST)
        self.streams: dict[int, DoHStream] = {}
        self.last_sid = 0
        self.client: tuple = ("0.0.0.0", 0)
        self._buf = b""
        self._preface = True  # the client's preface is still to come
        self._out: list[bytes] = []
        self._reading = False
        self.paused = False  # the client does not read what we write: its requests are not read either
        self._unread = 0
        self._closing = False
        self._peer_away = False
        self._headers: tuple[int, int, list[bytes]] | None = None  # (sid, flags, fragments): CONTINUATIONs due
        self._send_window = h2.DEFAULT_WINDOW  # the connection's, for our DATA
        self._stream_window = h2.DEFAULT_WINDOW  # the peer's SETTINGS_INITIAL_WINDOW_SIZE
        self._max_frame = h2.MAX_FRAME  # the peer's SETTINGS_MAX_FRAME_SIZE
        self._blocked: deque[tuple[DoHStream, bytes]] = deque()  # DATA waiting for a window
        self._sending: dict[int, DoHStream] = {}  # the streams of that DATA
        self._received = 0  # DATA bytes since our last WINDOW_UPDATE
        self._control = CONTROL_BUDGET
        self._resets = RESET_BUDGET
        self._bounds: Any = None

    # -- the connection ------------------------------------------------------------------------------
    def connectionMade(self) -> None:
        peer = self.transport.getPeer()
        self.client = (getattr(peer, "host", "0.0.0.0"), getattr(peer, "port", 0))
        self._bounds = self.transport if hasattr(self.transport, "request_started") else None
        if self._bounds is not None:
            self._bounds.multiplexed = True
        self.transport.registerProducer(self, True)  # told when answers pile up: pauseProducing
        self._out.append(h2.settings({h2.SETTINGS_MAX_CONCURRENT_STREAMS: MAX_STREAMS,
                                      h2.SETTINGS_ENABLE_PUSH: 0,
                                      h2.SETTINGS_MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST}))
        self._out.append(h2.window_update(0, RECEIVE_WINDOW - h2.DEFAULT_WINDOW))
        self._flush()

    def connectionLost(self, reason=None) -> None:
        self._closing = True
        for stream in self.streams.values():
            self._settle(stream)
            stream.state = DoHStream.GONE  # an answer that comes now is dropped
        self.streams.clear()
        self._blocked.clear()
        self._sending.clear()

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        buf = self._buf + data if self._buf else data
        self._reading = True
        try:
            if self._preface:
                if len(buf) < 24:
                    if not h2.PREFACE.startswith(buf):
                        raise h2.ConnectionError(h2.PROTOCOL_ERROR, "not the HTTP/2 preface")
                    self._buf = buf
                    return
                if buf[:24] != h2.PREFACE:
                    raise h2.ConnectionError(h2.PROTOCOL_ERROR, "not the HTTP/2 preface")
                self._preface = False
                buf = buf[24:]
            pos, end = 0, len(buf)
            unpack = h2.HEAD.unpack_from
            while end - pos >= 9:
                hi, lo, ftype, flags, sid = unpack(buf, pos)
                length = hi << 16 | lo
                if length > h2.MAX_FRAME:
                    raise h2.ConnectionError(h2.FRAME_SIZE_ERROR, f"a frame of {length} bytes")
                stop = pos + 9 + length
                if stop > end:
                    break
                payload = buf[pos + 9:stop]
                pos = stop
                sid &= 0x7FFFFFFF
                if self._headers is not None and ftype != h2.CONTINUATION:
                    raise h2.ConnectionError(h2.PROTOCOL_ERROR, "a header block cut by another frame")
                if ftype == h2.HEADERS:
                    self._on_headers(flags, sid, payload)
                elif ftype == h2.DATA:
                    self._on_data(flags, sid, payload)
                else:
                    self._on_control(ftype, flags, sid, payload)
                if self._closing:
                    return
            self._buf = buf[pos:] if pos < end else b""
        except h2.ConnectionError as e:
            self._fail(e.code, str(e))
        finally:
            self._reading = False
            if self._out:
                self._flush()

    def _fail(self, code: int, why: str) -> None:
        """A connection error: GOAWAY naming it, and the connection closed once that is written."""
        log.debug("DoH client {client}: {why}", client=self.client[0], why=why)
        self._out.append(h2.goaway(self.last_sid, code, why.encode()[:200]))
        self._close()

    def _close(self) -> None:
        self._closing = True
        self._flush()
        if self.transport is not None:
            # No longer a producer first: a connection with one registered may resume it instead of closing.
            self.transport.unregisterProducer()
            self.transport.loseConnection()

    # -- frames ----------------------------------------------------------------------------------------
    def _on_headers(self, flags: int, sid: int, payload: bytes) -> None:
        block = h2.unpad(flags, payload, priority=True)
        if not flags & h2.END_HEADERS:
            self._headers = (sid, flags, [block])
            return
        self._request(sid, flags, block)

    def _on_continuation(self, flags: int, sid: int, payload: bytes) -> None:
        if self._headers is None or self._headers[0] != sid:
            raise h2.ConnectionError(h2.PROTOCOL_ERROR, "CONTINUATION without its HEADERS")
        fragments = self._headers[2]
        fragments.append(payload)
        if sum(map(len, fragments)) > MAX_HEADER_LIST:
            raise h2.ConnectionError(h2.ENHANCE_YOUR_CALM, "header block too large")
        if flags & h2.END_HEADERS:
            first = self._headers[1]
            self._headers = None
            self._request(sid, first, b"".join(fragments))

    def _request(self, sid: int, flags: int, block: bytes) -> None:
        stream = self.streams.get(sid)
        if stream is not None:  # trailers: they end the body; what they say is not read
            self.blocks.skip(block)
            if not flags & h2.END_STREAM:
                raise h2.ConnectionError(h2.PROTOCOL_ERROR, "a second header block that does not end its stream")
            self._ended(stream)
            return
        if not sid & 1:
            raise h2.ConnectionError(h2.PROTOCOL_ERROR, f"stream {sid} is not a client's")
        if sid <= self.last_sid:  # a stream answered or reset already: trailers, late (dropped)
            self.blocks.skip(block)
            return
        self.last_sid = sid
        try:
            head = self.blocks.head(block)
        except h2.StreamError as e:
            self._out.append(h2.rst_stream(sid, e.code))
            return
        if self._peer_away:
            return
        if len(self.streams) + len(self._sending) >= MAX_STREAMS:  # answers waiting for a window count too
            self._out.append(h2.rst_stream(sid, h2.REFUSED_STREAM))
            return
        self._control = CONTROL_BUDGET
        stream = self.streams[sid] = DoHStream(self, sid, self._stream_window)
        if self._bounds is not None:
            self._bounds.request_started()
        verdict = head.verdict
        if verdict is None:
            verdict = head.verdict = judge(head)
        if verdict.status != 200:
            self._error(stream, verdict.status, verdict.text)
            if verdict.status == 413:  # nothing past the limit is read
                self._fail(h2.NO_ERROR, "request body too large")
            elif not flags & _ENDS:  # answered before the body: the client may stop sending it (RFC 9113 8.1)
                self._out.append(h2.rst_stream(sid, h2.NO_ERROR))
            return
        if not verdict.post:  # a GET: its message is in the path; a body, if any, is not read
            self._query(stream, verdict.message)
        elif flags & _ENDS:
            self._ended(stream)

    def _on_data(self, flags: int, sid: int, payload: bytes) -> None:
        if not sid:
            raise h2.ConnectionError(h2.PROTOCOL_ERROR, "DATA on stream 0")
        self._received += len(payload)
        if self._received >= RECEIVE_WINDOW // 2:
            self._out.append(h2.window_update(0, self._received))
            self._received = 0
        stream = self.streams.get(sid)
        if stream is None:
            if sid > self.last_sid:
                raise h2.ConnectionError(h2.PROTOCOL_ERROR, f"DATA on idle stream {sid}")
            return  # a stream we reset or answered early: its data is dropped
        if not payload:
            self._spend()
        data = h2.unpad(flags, payload)
        if stream.state == DoHStream.OPEN:  # a POST's body (a GET's is dropped)
            body = stream.body + data if stream.body else data
            if len(body) > MAX_MESSAGE:
                self._error(stream, 413, b"")
                self._fail(h2.NO_ERROR, "request body too large")
                return
            stream.body = body
        if flags & _ENDS:
            self._ended(stream)

    def _on_control(self, ftype: int, flags: int, sid: int, payload: bytes) -> None:
        if ftype == h2.CONTINUATION:
            self._on_continuation(flags, sid, payload)
            return
        if ftype == h2.WINDOW_UPDATE:
            self._on_window_update(sid, payload)
            return
        self._spend()
        if ftype == h2.SETTINGS:
            if sid:
                raise h2.ConnectionError(h2.PROTOCOL_ERROR, "SETTINGS on a stream")
            if flags & h2.ACK:
                return
            self._on_settings(payload)
        elif ftype == h2.PING:
            if sid or len(payload) != 8:
                raise h2.ConnectionError(h2.PROTOCOL_ERROR if sid else h2.FRAME_SIZE_ERROR, "bad PING")
            if not flags & h2.ACK:
                self._out.append(h2.frame(h2.PING, h2.ACK, 0, payload))
        elif ftype == h2.RST_STREAM:
            if not sid or len(payload) != 4:
                raise h2.ConnectionError(h2.PROTOCOL_ERROR, "bad RST_STREAM")
            stream = self.streams.get(sid)
            if stream is not None:
                if stream.state == DoHStream.QUERIED:
                    self._resets -= 1
                    if self._resets < 0:
                        raise h2.ConnectionError(h2.ENHANCE_YOUR_CALM, "too many streams reset while answered")
                self._forget(stream)
            elif self._sending.pop(sid, None) is not None:
                pass  # its answer's DATA is dropped (_drain)
            elif sid > self.last_sid:
                raise h2.ConnectionError(h2.PROTOCOL_ERROR, f"RST_STREAM on idle stream {sid}")
        elif ftype == h2.GOAWAY:
            self._peer_away = True
            if not self.streams:
                self._close()
        elif ftype == h2.PUSH_PROMISE:
            raise h2.ConnectionError(h2.PROTOCOL_ERROR, "a client may not push")
        elif ftype == h2.PRIORITY:
            if len(payload) != 5:
                self._out.append(h2.rst_stream(sid, h2.FRAME_SIZE_ERROR))
        # frames of unknown types are ignored (RFC 9113 5.5)

    def _spend(self) -> None:
        """One control frame: a client that sends many of them and no requests is cut off."""
        self._control -= 1
        if self._control < 0:
            raise h2.ConnectionError(h2.ENHANCE_YOUR_CALM, "too many control frames")

    def _on_settings(self, payload: bytes) -> None:
        for key, value in h2.parse_settings(payload):
            if key == h2.SETTINGS_INITIAL_WINDOW_SIZE:
                if value > h2.MAX_WINDOW:
                    raise h2.ConnectionError(h2.FLOW_CONTROL_ERROR, "initial window too large")
                delta, self._stream_window = value - self._stream_window, value
                for stream in (*self.streams.values(), *self._sending.values()):
                    stream.window += delta
            elif key == h2.SETTINGS_MAX_FRAME_SIZE:
                if not h2.MAX_FRAME <= value <= 16777215:
                    raise h2.ConnectionError(h2.PROTOCOL_ERROR, "bad SETTINGS_MAX_FRAME_SIZE")
                self._max_frame = value
            elif key == h2.SETTINGS_ENABLE_PUSH and value > 1:
                raise h2.ConnectionError(h2.PROTOCOL_ERROR, "bad SETTINGS_ENABLE_PUSH")
        self._out.append(h2.frame(h2.SETTINGS, h2.ACK, 0))
        self._drain()

    def _on_window_update(self, sid: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise h2.ConnectionError(h2.FRAME_SIZE_ERROR, "bad WINDOW_UPDATE")
        increment = h2.u31(payload)
        if not sid:
            if not increment:
                raise h2.ConnectionError(h2.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self._send_window += increment
            if self._send_window > h2.MAX_WINDOW:
                raise h2.ConnectionError(h2.FLOW_CONTROL_ERROR, "connection window past 2^31-1")
        else:
            stream = self.streams.get(sid) or self._sending.get(sid)
            if stream is not None:
                stream.window += increment
        self._spend()
        self._drain()

    # -- requests and answers --------------------------------------------------------------------------
    def _ended(self, stream: DoHStream) -> None:
        """The client's side of the stream ended: a POST's query goes to the server."""
        if stream.state == DoHStream.OPEN:
            data, stream.body = stream.body, b""
            self._query(stream, data)

    def _query(self, stream: DoHStream, data: bytes) -> None:
        if self._bounds is not None:
            self._bounds.request_complete()
        if len(data) < 12:
            self._error(stream, 400, b"not a DNS message")
            return
        stream.state = DoHStream.QUERIED
        self.listener.server.handle(data, self.client, "tcp", stream)

    def answer(self, stream: DoHStream, data: bytes) -> None:
        if stream.state != DoHStream.QUERIED:
            return  # reset by the client, or the connection is gone
        self._respond(stream, h2.answer_block(max_age(data), len(data)), data)
        self._forget(stream)
        if self._resets < RESET_BUDGET:
            self._resets += 1

    def _error(self, stream: DoHStream, status: int, text: bytes) -> None:
        """An error response; the stream is done with (a client still sending its body is told to stop)."""
        body = text + b"\n" if text else b""
        self._respond(stream, h2.error_block(status, len(body), b"GET, POST" if status == 405 else b""), body)
        self._forget(stream)

    def _respond(self, stream: DoHStream, block: bytes, body: bytes) -> None:
        out = self._out
        sid = stream.sid
        if not body:
            out.append(h2.frame(h2.HEADERS, h2.END_HEADERS | h2.END_STREAM, sid, block))
        else:
            out.append(h2.frame(h2.HEADERS, h2.END_HEADERS, sid, block))
            n = len(body)
            if not self._blocked and n <= self._send_window and n <= stream.window and n <= self._max_frame:
                self._send_window -= n
                out.append(h2.frame(h2.DATA, h2.END_STREAM, sid, body))
            else:
                self._blocked.append((stream, body))
                self._sending[sid] = stream
                self._drain()
        if not self._reading and not self._due:  # an answer that came later: out when this reactor pass ends
            self._due = True
            self.flusher.add(self)

    def _settle(self, stream: DoHStream) -> None:
        """Tell the connection's bounds the request is over (answered, or dropped), once."""
        if stream.state in (DoHStream.OPEN, DoHStream.QUERIED) and self._bounds is not None:
            self._bounds.replied()

    def _forget(self, stream: DoHStream) -> None:
        self._settle(stream)
        stream.state = DoHStream.GONE
        self.streams.pop(stream.sid, None)
        if self._peer_away and not self.streams:
            self._close()

    def _drain(self) -> None:
        """Send what waited for a window, as far as the windows now allow (RFC 9113 6.9)."""
        if not self._blocked:
            return
        blocked, self._blocked = self._blocked, deque()
        for stream, body in blocked:
            if stream.state == DoHStream.GONE and stream.sid not in self._sending:
                continue  # reset by the client meanwhile
            while body and self.transport is not None:
                n = min(len(body), self._send_window, stream.window, self._max_frame)
                if n <= 0:
                    break
                self._send_window -= n
                stream.window -= n
                last = n == len(body)
                self._out.append(h2.frame(h2.DATA, h2.END_STREAM if last else 0, stream.sid, body[:n]))
                body = body[n:]
            if body:
                self._blocked.append((stream, body))
            else:
                self._sending.pop(stream.sid, None)

    def _flush(self) -> None:
        self._due = False
        out = self._out
        if out and self.transport is not None:
            self._out = []
            data = out[0] if len(out) == 1 else b"".join(out)
            if self.paused:
                self._unread += len(data)
                if self._unread > MAX_UNREAD:
                    self.transport.abortConnection()
                    return
            self.transport.write(data)

    # -- backpressure (IPushProducer: the transport calls these) -------------------------------------------
    def pauseProducing(self) -> None:
        if not self.paused:
            self.paused = True
            self._unread = 0
            self.transport.stopReading()

    def resumeProducing(self) -> None:
        if self.paused:
            self.paused = False
            if self.connected:
                self.transport.startReading()

    def stopProducing(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.abortConnection()
