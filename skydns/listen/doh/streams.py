"""What a DoH connection on HTTP/2 keeps per request, and what it decides from a request's head: its
streams (each the sender its answer comes back to) and the RFC 8484 judgement of a head."""
from __future__ import annotations

from typing import TYPE_CHECKING

from skydns.listen.doh import h2frames as h2
from skydns.listen.doh.message import CONTENT_TYPE, MAX_MESSAGE, PATH, BadRequest, dns_parameter

if TYPE_CHECKING:
    from skydns.listen.doh.h2 import H2DoH

_PATH = b"/" + PATH


class DoHStream:
    """One request: its body as it comes, then the sender its answer is handed to (``send``)."""

    __slots__ = ("conn", "sid", "body", "window", "state")

    OPEN, QUERIED, GONE = range(3)

    def __init__(self, conn: H2DoH, sid: int, window: int):
        self.conn, self.sid, self.window = conn, sid, window
        self.body = b""
        self.state = DoHStream.OPEN

    def send(self, data: bytes, addr=None) -> None:
        """The server's answer (the sender interface of :meth:`skydns.query.server.Server.handle`)."""
        self.conn.answer(self, data)


class _Verdict:
    """What a request head asks of the server: a query to read (GET's message, or POST's body to
    come), or an error status with its text."""

    __slots__ = ("status", "text", "message", "post")

    def __init__(self, status: int = 200, text: bytes = b"", message: bytes = b"", post: bool = False):
        self.status, self.text, self.message, self.post = status, text, message, post


_POST = _Verdict(post=True)


def judge(head: h2.RequestHead) -> _Verdict:
    """The DoH judgement of a request head (RFC 8484 4.1): kept on the head, which is shared."""
    path, _, query = head.path.partition(b"?")
    if path != _PATH:
        return _Verdict(404, b"not found")
    if head.method == b"POST":
        if head.content_type != CONTENT_TYPE:
            return _Verdict(415, b"expected application/dns-message")
        if head.length is not None and head.length > MAX_MESSAGE:
            return _Verdict(413, b"")
        return _POST
    if head.method == b"GET":
        try:
            return _Verdict(message=dns_parameter(query))
        except BadRequest as e:
            return _Verdict(400, str(e).encode())
    return _Verdict(405, b"method not allowed")
