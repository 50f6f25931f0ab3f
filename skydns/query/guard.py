"""A listener's door: DNS cookies and response rate limiting, in front of every block and every path.

Both work on where replies go rather than on what the chain answers, so they
stand where the listener hands a packet to the server: :meth:`Guard.admit`
takes the packet and the sender its replies go through, and gives back the
packet the server reads (its COOKIE option taken out, so the cache sees one
query whatever cookie came with it) and the sender to use. The chain, the raw
path's cache hits, the forward relay, UPDATE and DNS over TLS/HTTPS all send
through that sender: none of them needs to know. Replies are limited over UDP
only (a TCP client's address is proven); a query with a valid server cookie
is not limited either.
"""
from __future__ import annotations

from skydns.query import cookies, wire
from skydns.query.cookies import Jar
from skydns.query.delivery import truncate
from skydns.query.ratelimit import Limiter


class CookieSender:
    """Adds the client's cookie and a fresh server cookie to every reply to one query."""

    __slots__ = ("inner", "option", "bufsize", "limited")

    def __init__(self, inner, option: bytes, bufsize: int, limited=None):
        self.inner = inner
        self.option = option
        self.bufsize = bufsize
        self.limited = limited  # a LimitedSender in front of inner, or None

    def send(self, data: bytes, peer) -> None:
        added = cookies.add(data, self.option)
        if added is not None:
            data = added
            if len(data) > self.bufsize:
                data = truncate(data, self.bufsize)
        if self.limited is not None:
            self.limited.send(data, peer, self.option)
        else:
            self.inner.send(data, peer)

    @property
    def stream(self):
        """A stream transport's message writer (zone transfers: their messages go without cookies)."""
        return getattr(self.inner, "stream", None)


class Guard:
    """What stands at one listener's door: a cookie jar, a rate limiter, or both."""

    __slots__ = ("jar", "limiter")

    def __init__(self, jar: Jar | None = None, limiter: Limiter | None = None):
        self.jar = jar
        self.limiter = limiter

    def admit(self, data: bytes, client: tuple, proto: str, sender):
        """``(data, sender)`` for the server to go on with, or None when the guard answered already."""
        limiter = self.limiter
        jar = self.jar
        limited = limiter.sender(sender) if limiter is not None and proto == "udp" else None
        if jar is None:
            return data, (limited if limited is not None else sender)
        try:
            found = cookies.read(data)
        except cookies.Malformed:
            jar.counts["malformed"] += 1
            reply = wire.header_only_formerr(data)
            if reply is not None:
                (limited or sender).send(reply, client)
            return None
        if found is None:
            if jar.config.require and proto == "udp" and len(data) > 12:
                # no cookie at all: an empty truncated reply (RFC 7873 section 5.2.1 leaves it to policy)
                try:
                    (limited or sender).send(cookies.truncated(data), client)
                except IndexError:
                    pass
                return None
            return data, (limited if limited is not None else sender)
        host = client[0]
        if host.startswith("::ffff:") and "." in host:
            host = host[7:]
        now = jar.clock()
        good = bool(found.server) and jar.valid(found.client, found.server, host, now)
        if good:
            jar.counts["good"] += 1
            limited = None  # a proven address: never limited
            stamp = int.from_bytes(found.server[4:8], "big")
            if (int(now) - stamp) & 0xFFFFFFFF < cookies.RENEW_AFTER:
                server_cookie = found.server  # still fresh: the same one back
            else:
                server_cookie = jar.server_cookie(found.client, host, now)
        else:
            jar.counts["bad" if found.server else "new"] += 1
            server_cookie = jar.server_cookie(found.client, host, now)
        option = cookies.option(found.client, server_cookie)
        if not good and jar.config.require and proto == "udp":
            (limited or sender).send(cookies.badcookie(found.query, option), client)
            return None
        return found.query, CookieSender(sender, option, found.bufsize if proto == "udp" else 65535, limited)
