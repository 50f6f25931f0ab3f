"""forward's express lanes: the raw relay with little between the four system calls but the checks.

With ``expire`` every query to an upstream leaves from one shared socket
(:class:`~skydns.clients.pools.UDPPool`), and each upstream has a lane on it. The lanes
are then forward's raw relay (:meth:`Lanes.offer`): the server offers them the UDP
packets it would have offered :mod:`.relay` (behind a cache too), and a listener whose
only block is a bare ``forward .`` hands them its packets straight away (:meth:`Lanes.door`).
The upstream is picked by the forward's policy. Per query: one entry in the pool's table
of ``relayed`` IDs, no Deferred, timer or object of its own (a Request only when
observers watch the block); the lane reads the socket while those IDs are out and sends
each answer (the response bit, the ID and the question checked, the client's ID and CD
bit put back, kept by the cache in front) from that read loop to the client. Off that
path: the relay takes a query while the socket is not open or the upstream is down, and
a query that times out, is truncated, or whose socket breaks is finished by forward's
normal path within its deadline.
"""
from __future__ import annotations

import itertools
import struct

from twisted.internet import task
from twisted.logger import Logger

from skydns.clients.dnsclient import ExchangeError, Timeout, random_u16
from skydns.plugin.forward.relay import Relayed
from skydns.query.request import MalformedQuery

log = Logger(namespace="skydns.plugin.forward")
_pack_id = struct.Struct("!H").pack
#: Seconds between sweeps for queries past their read timeout.
TICK = 0.05
#: Answers one read of the shared socket takes at most.
READ_BURST = 256

# An entry of the table: the query as the client sent it, where its question ends, the client's
# address, the listener's protocol (``send``) and delivery, when it was sent, the request the block's
# observers see (None when nothing watches), the cache in front that keeps the answer (None, or
# ``keep(query, answer)``) and how the client asked. The hot path indexes it with the numbers themselves.
DATA, END, CLIENT, SENDER, DELIVERY, SENT, REQUEST, KEEP, PROTO = range(9)


class Lane:
    """The express lane of one Forward to its one upstream over the shared UDP socket."""

    def __init__(self, forward, up, pool):
        self.forward = forward
        self.up = up
        self.pool = pool
        self.table = pool.relayed  # ID -> entry; in send order, the oldest first
        self.limit = forward.limit
        self.reactor = forward.reactor
        self.timeout = forward.cfg.timeout
        self.holder = None  # the delivery holding the configuration while queries are out
        self._sweeper: task.LoopingCall | None = None
        pool.relay = self

    # -- answers -------------------------------------------------------------------------------
    def read(self, pool) -> None:
        """Read the shared socket (the pool's ``doRead`` while the lane has queries out)."""
        sock = pool.sock
        table = self.table
        pending = pool.pending
        recv = sock.recv
        answered = 0
        for _ in range(READ_BURST):
            try:
                ans = recv(65535)
            except BlockingIOError:
                break
            except OSError as err:  # ICMP port unreachable and friends: the socket is done
                self.limit.count -= answered
                answered = 0
                pool._broken(ExchangeError(err.strerror or str(err)))
                break
            if len(ans) < 12:
                continue
            qid = ans[0] << 8 | ans[1]
            e = table.get(qid)
            if e is None:
                pool._answer(ans)  # the normal path's, or late, stray or forged
                if not table and not pending:
                    break
                continue
            data = e[0]
            end = e[1]
            if not ans[2] & 0x80 or not (ans.startswith(data[12:end], 12)
                                         or ans[12:end].lower() == data[12:end].lower()):
                continue  # not the answer to this query: it still waits
            del table[qid]
            answered += 1
            if ans[2] & 0x02:  # truncated: the normal path asks over TCP
                self._fallback(e, None, tcp=True)
            else:
                # The client's ID and CD bit (RFC 6840 5.9), whatever the upstream echoed.
                if (ans[3] ^ data[3]) & 0x10:
                    reply = data[:2] + ans[2:3] + bytes(((ans[3] & 0xEF) | (data[3] & 0x10),)) + ans[4:]
                else:
                    reply = data[:2] + ans[2:]
                if e[7] is not None:
                    reply = self._kept(e, reply)
                if e[6] is None:
                    e[3].send(reply, e[2])
                else:  # the observers see it
                    e[4].send_raw(reply, e[2], e[3], e[6])
            if not table and not pending:
                break
        if answered:
            self.limit.count -= answered
            up = self.up
            if up.fails or up.down:
                self.forward.health.ok(up)
        if not table:
            self._idle()

    def broken(self, err) -> None:
        """The shared socket broke: every query out on it finishes on the normal path."""
        out = list(self.table.values())
        self.table.clear()
        self.limit.count -= len(out)
        for e in out:
            self.forward.health.failed(self.up)  # each query a failure, as on the relay
            self._fallback(e, err)
        self._idle()

    # -- bookkeeping -----------------------------------------------------------------------------
    def busy(self, delivery) -> None:
        """The first query out: the configuration is held, and the sweep for timeouts runs."""
        if self.holder is None:
            self.holder = delivery
            delivery.hold()
        if self._sweeper is None:
            self._sweeper = task.LoopingCall(self._sweep)
            self._sweeper.clock = self.reactor
            self._sweeper.start(TICK, now=False)

    def _idle(self) -> None:
        holder, self.holder = self.holder, None
        if holder is not None:
            holder.release()
        self.pool.settle()

    def _sweep(self) -> None:
        """Finish the queries past their read timeout on the normal path (the oldest are first)."""
        table = self.table
        if not table:
            self._stop_sweeping()
            return
        sent_before = self.reactor.seconds() - self.timeout
        expired = []
        for qid, e in table.items():
            if e[SENT] > sent_before:
                break
            expired.append(qid)
        if not expired:
            return
        self.limit.count -= len(expired)
        err = Timeout(f"no answer from {self.up.name} in {self.timeout:g}s")
        for qid in expired:
            self.forward.health.failed(self.up)
            self._fallback(table.pop(qid), err)
        if not table:
            self._idle()

    def _stop_sweeping(self) -> None:
        if self._sweeper is not None and self._sweeper.running:
            self._sweeper.stop()
        self._sweeper = None

    def _kept(self, e: tuple, reply: bytes) -> bytes:
        """The reply as the cache in front sends it (TTLs capped), once it has kept it."""
        try:
            return e[KEEP](e[DATA], reply) or reply
        except Exception:
            log.failure("the cache in front could not keep an answer from {up}", up=self.up.name)
            return reply

    def _fallback(self, e: tuple, err, tcp: bool = False) -> None:
        """Finish one query on forward's normal path, as the relay finishes its own."""
        if err is not None:
            log.debug("{up}: {why}", up=self.up.name, why=err)
        r = Relayed(self.forward.relay, e[DATA], e[CLIENT], e[SENDER], e[DELIVERY], self.up, b"", e[SENT], e[KEEP],
                    e[PROTO])
        r.called = True
        r.request = e[REQUEST]
        self.forward.relay.fallback(r, err, tcp)

    def stop(self) -> None:
        """The forward stops: what is still out is forgotten (its configuration waited for it to end)."""
        self._stop_sweeping()
        self.limit.count -= len(self.table)
        self.table.clear()
        if self.pool.relay is self:
            self.pool.relay = None
        holder, self.holder = self.holder, None
        if holder is not None:
            holder.release()


class Lanes:
    """The express lanes of one Forward, one per upstream: its raw relay (``raw_forward``) when it has them."""

    def __init__(self, forward):
        self.forward = forward
        self.lanes = [Lane(forward, up, up.pools["udp"]) for up in forward.upstreams]
        self.lane = self.lanes[0]
        self.pick = _picker(self.lanes, forward.cfg.policy)
        self.block = forward.block  # its observers, when it has some, get a Request per query

    def door(self, handle, delivery):
        """What a listener calls for each UDP packet (``handle``'s signature), for a listener that has nothing
        but this forward to offer them to: the lanes' take, the server's whole path for what they leave."""
        offer = self.offer

        def take(data: bytes, client: tuple, proto: str, sender) -> None:
            if not offer(data, client, sender, delivery):
                handle(data, client, proto, sender)

        return take

    def offer(self, data: bytes, client: tuple, sender, delivery, keep=None, proto: str = "udp") -> bool:
        """IRawForwarder.raw_forward: send a plain query on the shared socket of the upstream the policy picks
        (True). While that socket is not open, the upstream is down or its table full, the relay takes the
        packet; what the relay would not take either (not a plain query, the limit, an unreadable question),
        the normal path (False)."""
        lane = self.lane if self.pick is None else self.pick()
        pool = lane.pool
        sock = pool.sock
        limit = lane.limit
        table = lane.table
        if len(data) < 17 or data[2] & 0xF8 or (limit.limit and limit.count >= limit.limit):
            return False  # not a plain query, or the forward is at its limit: the normal path
        if sock is None or lane.up.down or len(table) >= pool.MAX_PENDING:
            return self.forward.relay.take(data, client, sender, delivery, keep, proto)
        end = 12  # the question's end, to check the answer's against
        n = data[12]
        try:
            while n:
                if n > 63:
                    return False
                end += n + 1
                n = data[end]
        except IndexError:
            return False
        end += 5
        if end > len(data):
            return False
        request = None
        block = self.block
        if block is not None and block.observers:  # the observers get the query read, as on the relay
            try:
                request = delivery.request(data, client, proto, sender)
            except MalformedQuery:
                return False
            request.block, request.zone = block, "."
        if not table:
            lane.busy(delivery)
        pending = pool.pending
        qid = random_u16()
        while qid in table or qid in pending:
            qid = random_u16()
        table[qid] = (data, end, client, sender, delivery, lane.reactor.seconds(), request, keep, proto)
        lane.up.requests += 1
        limit.count += 1
        pool.outbox.add(pool, sock, _pack_id(qid) + data[2:])
        return True

    def stop(self) -> None:
        for lane in self.lanes:
            lane.stop()


def _picker(lanes: list[Lane], policy: str):
    """None for one lane, else what picks the lane of each query as the forward's policy says."""
    count = len(lanes)
    if count == 1:
        return None
    if policy == "random":
        return lambda: lanes[random_u16() % count]
    if policy == "round_robin":
        return itertools.cycle(lanes).__next__
    return lambda: lanes[0]  # sequential: the first (when it is down, the relay takes its queries)
