"""forward's raw UDP relay: a query's bytes to one upstream and its answer's bytes back, nothing parsed.

The fast path of :class:`~skydns.plugin.forward.forward.Forward` (``IRawForwarder``),
what dnsdist does: the server hands it UDP packets unread; each goes to one upstream
with a fresh random ID, from one of the upstream's short-lived sockets on random
ports (:class:`~skydns.clients.pools.PortPool`; the shared socket with ``expire``); the
answer is taken only with that ID and the query's question, and sent to the client
with the client's ID. No Request, no Deferred, no timer per query: the queries out
are kept in send order, so one sweep every ``TICK`` seconds finds those past
``read_timeout`` at the front. Anything off the happy path (no answer, an error,
a truncated answer) is finished by the forward's normal path, within the query's
deadline. Every query ends through the listener's delivery (:mod:`skydns.query.delivery`),
which the server hands over with the packet: it counts the query in flight, sends, and
shows the reply to the block's observers.
"""
from __future__ import annotations

import struct

from twisted.internet import task
from twisted.logger import Logger

from skydns.clients.dnsclient import ExchangeError, Timeout, connected_udp, question_of, random_u16, same_question
from skydns.query.request import MalformedQuery

log = Logger(namespace="skydns.plugin.forward")
_pack_id = struct.Struct("!H").pack
#: Seconds between sweeps for queries past their read timeout.
TICK = 0.05


class Relayed:
    """One query out on the relay: the exchange's state, and the reader of its own socket when it has one."""

    __slots__ = ("relay", "data", "client", "sender", "delivery", "up", "question", "qid", "deadline", "started",
                 "sock", "pool", "called", "request", "keep", "proto")

    def __init__(self, relay, data, client, sender, delivery, up, question, now, keep=None, proto="udp"):
        self.relay, self.data, self.client, self.sender, self.delivery = relay, data, client, sender, delivery
        self.keep = keep  # None, or fn(query, answer): the cache in front (IRawKeeper)
        self.proto = proto  # how the client asked: "udp", or "tcp" for TCP, TLS and HTTPS
        self.up, self.question = up, question
        self.started = now
        self.deadline = now + relay.timeout
        self.called = False
        self.sock = None
        self.pool = None
        self.request = None
        self.qid = 0

    # -- the shared pool calls these (like a Deferred's) ------------------------------------
    def callback(self, answer: bytes) -> None:
        self.relay.answered(self, answer)

    def errback(self, err) -> None:
        self.relay.failed(self, err)

    # -- IReadDescriptor, for a socket of its own -------------------------------------------
    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def logPrefix(self) -> str:
        return "forward"

    def doRead(self) -> None:
        for _ in range(4):
            sock = self.sock
            if sock is None:
                return
            try:
                answer = sock.recv(65535)
            except BlockingIOError:
                return
            except OSError as e:
                self.relay.failed(self, ExchangeError(e.strerror or str(e)))
                return
            if len(answer) >= 12 and answer[2] & 0x80 and (answer[0] << 8 | answer[1]) == self.qid \
                    and same_question(answer, self.question):
                self.relay.answered(self, answer)
                return

    def connectionLost(self, reason=None) -> None:
        self.relay.failed(self, ExchangeError("connection refused"))


class Relay:
    """The raw relay of one Forward."""

    def __init__(self, forward):
        self.forward = forward
        self.reactor = forward.reactor
        self.timeout = forward.cfg.timeout
        self.out: dict[Relayed, None] = {}  # in send order: the oldest first
        self._sweeper: task.LoopingCall | None = None

    def take(self, data: bytes, client: tuple, sender, delivery, keep=None, proto: str = "udp") -> bool:
        fwd = self.forward
        # Only plain queries: a response, another opcode or a short packet gets the normal path's answer.
        if len(data) < 12 or data[2] & 0xF8 or fwd.limit.full():
            return False
        question = question_of(data)
        if question is None:
            return False
        ups = fwd.upstreams
        if len(ups) == 1:
            up = ups[0]
        else:
            up = fwd.policy.order(ups)[0]
        if up.down and fwd.cfg.failfast:
            return False
        now = self.reactor.seconds()
        r = Relayed(self, data, client, sender, delivery, up, question, now, keep, proto)
        block = fwd.block
        if block is not None and block.observed:
            try:
                req = r.request = delivery.request(data, client, proto, sender)
            except MalformedQuery:
                return False
            req.block, req.zone = block, "."
        pool = up.pools.get("udp")
        up.requests += 1
        try:
            if pool is not None and not pool.full():
                r.pool = pool
                r.qid = pool.send(data, question, r)
            else:
                r.qid = qid = random_u16()
                sock = r.sock = connected_udp(up.host, up.port, up.source)
                try:
                    sock.send(_pack_id(qid) + data[2:])
                except OSError:
                    sock.close()
                    r.sock = None
                    raise
                self.reactor.addReader(r)
        except OSError as e:
            if pool is not None:
                pool.discard()
            r.called = True
            self.fallback(r, ExchangeError(f"cannot send to {up.name}: {e}"))
            return True
        fwd.limit.count += 1
        delivery.hold()
        self.out[r] = None
        if self._sweeper is None:
            self._sweeper = task.LoopingCall(self._sweep)
            self._sweeper.clock = self.reactor
            self._sweeper.start(TICK, now=False)
        return True

    def _done(self, r: Relayed) -> None:
        """The exchange is over: release its socket or ID, uncount it."""
        r.called = True
        self.out.pop(r, None)
        if r.sock is not None:
            self.reactor.removeReader(r)
            r.sock.close()
            r.sock = None
        elif r.pool is not None:
            r.pool.finished(r.qid)
        self.forward.limit.count -= 1
        r.delivery.release()

    def answered(self, r: Relayed, answer: bytes) -> None:
        if r.called:
            return
        self._done(r)
        fwd = self.forward
        up = r.up
        if up.fails or up.down:
            fwd.health.ok(up)
        if answer[2] & 0x02:  # truncated: the normal path asks the same upstream over TCP
            self.fallback(r, None, tcp=True)
            return
        data = r.data
        # The client's ID and CD bit (RFC 6840 5.9), whatever the upstream echoed.
        if (answer[3] ^ data[3]) & 0x10:
            reply = data[:2] + answer[2:3] + bytes(((answer[3] & 0xEF) | (data[3] & 0x10),)) + answer[4:]
        else:  # the usual case: the upstream echoed the CD bit it was sent
            reply = data[:2] + answer[2:]
        if r.keep is not None:
            try:
                reply = r.keep(data, reply) or reply  # as the cache sends it (TTLs capped)
            except Exception:
                log.failure("the cache in front could not keep an answer from {up}", up=up.name)
        # The upstream saw the client's own OPT record: its answer fits the client as it is.
        r.delivery.send_raw(reply, r.client, r.sender, r.request)

    def failed(self, r: Relayed, err) -> None:
        if r.called:
            return
        self._done(r)
        self.forward.health.failed(r.up)
        log.debug("{up}: {why}", up=r.up.name, why=err)
        self.fallback(r, err)

    def fallback(self, r: Relayed, err, tcp: bool = False) -> None:
        """Finish through the normal path: the other upstreams (or TCP after TC), within the query's deadline.
        The delivery cuts a TCP answer to the UDP client's size, and answers SERVFAIL if it fails."""
        req = r.request
        if req is None:
            try:
                req = r.request = r.delivery.request(r.data, r.client, r.proto, r.sender)
            except MalformedQuery:
                return
            req.block, req.zone = self.forward.block, "."
            req.started = req.started - (self.reactor.seconds() - r.started)
        result = self.forward.retry(req, r.up, tcp, r.started)
        if r.keep is not None:  # the cache in front keeps what the normal path answers too (a brief SERVFAIL)
            result.addCallback(self._keep_after, r)
        r.delivery.deliver(req, result)

    @staticmethod
    def _keep_after(result, r: Relayed):
        if result.__class__ is bytes:
            try:
                return r.keep(r.data, result) or result
            except Exception:
                log.failure("the cache in front could not keep an answer")
        return result

    def _sweep(self) -> None:
        """Fail the queries past their read timeout (the oldest are first in ``out``)."""
        out = self.out
        if not out:
            return
        now = self.reactor.seconds()
        expired = []
        for r in out:
            if r.deadline > now:
                break
            expired.append(r)
        for r in expired:
            self.failed(r, Timeout(f"no answer from {r.up.name} in {self.timeout:g}s"))

    def stop(self) -> None:
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        self._sweeper = None
        for r in list(self.out):
            self._done(r)
