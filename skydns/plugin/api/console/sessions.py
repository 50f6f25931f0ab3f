"""Console sessions: a token given once at the login form, then a cookie, and a CSRF token for every write.

The browser never keeps the API token: the login form sends it once, the server
finds it by its hash and hands back a random session id in a cookie that scripts
cannot read (``HttpOnly``), that no other site's page sends (``SameSite=Strict``),
and that only travels over HTTPS when the console is served over it (``Secure``).
A session remembers the token's hash, not the token: a reload that removes or
changes the token ends or changes what the session may do. Every request that
changes something must also carry the session's CSRF token in a header (which a
page of another origin cannot read nor set) and, when the browser sends one, an
``Origin`` equal to the console's own. Sessions are few and bounded: the oldest
goes first, an idle one after ``IDLE`` seconds.
"""
from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field

COOKIE = b"skydns_console"
CSRF_HEADER = b"x-csrf-token"
#: At most this many sessions at once (the oldest is logged out beyond it).
MAX_SESSIONS = 1000
#: A session unused this long (seconds) is gone.
IDLE = 8 * 3600.0


@dataclass
class Session:
    id: str
    digest: bytes  # the token's hash: the token is looked up again on every request
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    last: float = 0.0

    def __repr__(self) -> str:  # never the id nor the CSRF token in a log line
        return "Session(...)"


class Sessions:
    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._by_id)

    def open(self, digest: bytes) -> Session:
        while len(self._by_id) >= MAX_SESSIONS:
            self._by_id.popitem(last=False)
        s = Session(secrets.token_urlsafe(32), digest, last=self.clock())
        self._by_id[s.id] = s
        return s

    def close(self, session: Session) -> None:
        self._by_id.pop(session.id, None)

    def of(self, request) -> Session | None:
        """The session of the request's cookie, if it is one and still alive."""
        raw = request.getCookie(COOKIE)
        if not raw:
            return None
        s = self._by_id.get(raw.decode("ascii", "replace"))
        if s is None:
            return None
        now = self.clock()
        if now - s.last > IDLE:
            self.close(s)
            return None
        s.last = now
        self._by_id.move_to_end(s.id)
        return s

    @staticmethod
    def may_write(request, session: Session) -> bool:
        """Does the request carry the session's CSRF token and come from the console's own origin?"""
        given = request.getHeader(CSRF_HEADER) or b""
        if not hmac.compare_digest(given, session.csrf.encode()):
            return False
        return Sessions.same_origin(request)

    @staticmethod
    def same_origin(request) -> bool:
        """No ``Origin`` (old browsers, other clients), or the console's own."""
        origin = request.getHeader(b"origin")
        if origin is None:
            return True
        host = request.getHeader(b"host") or b""
        scheme = b"https" if request.isSecure() else b"http"
        return origin == scheme + b"://" + host

    @staticmethod
    def set_cookie(request, session: Session | None) -> None:
        """Give the browser the session's cookie (None: remove it)."""
        value = session.id.encode() if session is not None else b""
        request.addCookie(COOKIE, value, path=b"/skydns", httpOnly=True, sameSite="strict",
                          secure=request.isSecure(), max_age=None if session is not None else b"0")
