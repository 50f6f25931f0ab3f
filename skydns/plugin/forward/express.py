"""forward's express lanes: the raw relay with little between the four system calls but the checks.

With ``expire`` every query to an upstream leaves from one shared socket
(:class:`~skydns.clients.pools.UDPPool`), and each upstream has a lane on it. When a
listener's only block is a bare ``forward .`` (nothing in front that answers, rewrites
or keeps replies), the listener hands its UDP packets straight to the lanes
(:func:`door`; the upstream picked by the forward's policy): per query one entry in
the pool's table of ``relayed`` IDs, no Deferred, timer or object of its own (a Request
only when observers watch the block); the lane reads the socket while those IDs are
out and sends each answer (the response bit, the ID and the question checked, the
client's ID and CD bit put back) from that read loop to the client. Everything off
that path goes the way it went before: what the lane does not take goes to the
server's whole path (the relay of :mod:`.relay` among it), and a query that times
out, is truncated, or whose socket breaks is finished by forward's normal path
within its deadline.
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
# address, the listener's protocol (``send``) and delivery, when it was sent, and the request the
# block's observers see (None when nothing watches). The hot path indexes it with the numbers themselves.
DATA, END, CLIENT, SENDER, DELIVERY, SENT, REQUEST = range(7)


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

    def _fallback(self, e: tuple, err, tcp: bool = False) -> None:
        """Finish one query on forward's normal path, as the relay finishes its own."""
        if err is not None:
            log.debug("{up}: {why}", up=self.up.name, why=err)
        r = Relayed(self.forward.relay, e[DATA], e[CLIENT], e[SENDER], e[DELIVERY], self.up, b"", e[SENT])
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


def door(lanes: list[Lane], policy: str, handle, delivery):
    """What a listener calls for each UDP packet (``handle``'s signature): a lane's take, the lane picked as
    ``policy`` says (random, round_robin, sequential), with the server's whole path (``handle``) for the
    packets it leaves and the listener's ``delivery``."""
    return _Door(lanes, policy, handle, delivery).take


class _Door:
    """One listener's entrance to the lanes of a forward."""

    __slots__ = ("lane", "pick", "handle", "delivery", "observed")

    def __init__(self, lanes: list[Lane], policy: str, handle, delivery):
        self.lane = lanes[0]
        self.pick = _picker(lanes, policy)
        self.handle, self.delivery = handle, delivery
        block = lanes[0].forward.block
        self.observed = block if block is not None and block.observed else None  # the block, when watched

    def take(self, data: bytes, client: tuple, proto: str, sender) -> None:
        """Send a plain query on the picked upstream's shared socket; anything else (and everything when the
        socket is not open, the upstream is down or the forward at its limit) goes the server's whole way,
        where the relay orders the upstreams by their health."""
        lane = self.lane if self.pick is None else self.pick()
        pool = lane.pool
        sock = pool.sock
        limit = lane.limit
        table = lane.table
        if len(data) < 17 or data[2] & 0xF8 or sock is None or lane.up.down or len(table) >= pool.MAX_PENDING \
                or (limit.limit and limit.count >= limit.limit):
            self.handle(data, client, proto, sender)
            return
        end = 12  # the question's end, to check the answer's against
        n = data[12]
        try:
            while n:
                if n > 63:
                    self.handle(data, client, proto, sender)
                    return
                end += n + 1
                n = data[end]
        except IndexError:
            self.handle(data, client, proto, sender)
            return
        end += 5
        if end > len(data):
            self.handle(data, client, proto, sender)
            return
        request = None
        if self.observed is not None:  # the observers get the query read, as on the relay
            try:
                request = self.delivery.request(data, client, proto, sender)
            except MalformedQuery:
                self.handle(data, client, proto, sender)
                return
            request.block, request.zone = self.observed, "."
        if not table:
            lane.busy(self.delivery)
        pending = pool.pending
        qid = random_u16()
        while qid in table or qid in pending:
            qid = random_u16()
        table[qid] = (data, end, client, sender, self.delivery, lane.reactor.seconds(), request)
        lane.up.requests += 1
        limit.count += 1
        pool.outbox.add(pool, sock, _pack_id(qid) + data[2:])


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
