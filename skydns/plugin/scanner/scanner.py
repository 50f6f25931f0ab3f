"""The scanner: probes the addresses of an etcd zone and writes the status keys its ``monitor`` follows.

Addresses come from the etcd plugin's watched copy (IMonitoredSource), so they are
current without a watch of their own. Several scanners share the work: each
registers under ``STATUS/scanners/<id>`` with its lease, and an address is probed by
the live scanner with the highest rendezvous score ``sha1(id | address)``; when one
goes (its lease runs out) or comes, every scanner recomputes its share from the
same member list, so each address has exactly one owner once they have all seen it.

An address changes state after ``rise`` successes or ``fall`` failures in a row (of
every check it has: it is UP only when all pass) and only then is its key written.
Probes are started by a scheduler from a heap of due times, at most
``max_inflight`` at once, spread over the interval; they never block the reactor.
"""
from __future__ import annotations

import heapq
import itertools
import os
import socket
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from twisted.internet import task
from twisted.logger import Logger
from zope.interface import implementer

from skydns.clients import probes
from skydns.clients.etcd.sharing import owner, score
from skydns.interfaces import IMetrics
from skydns.plugin.scanner import spec
from skydns.plugin.scanner.writer import EtcdWriter

log = Logger(namespace="skydns.plugin.scanner")
#: Seconds between scheduler runs.
TICK = 0.02


@dataclass
class Options:
    timing: spec.Timing = spec.Timing()
    max_inflight: int = 256
    lease: int = 10
    source_address: str | None = None
    member: str = ""


def default_member() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Check:
    """One probe of one address, with its counters."""

    __slots__ = ("ip", "probe", "timing", "health", "due", "running", "alive", "key")

    def __init__(self, ip: str, probe: probes.Probe, timing: spec.Timing, key: str, up: bool, due: float):
        self.ip, self.probe, self.timing, self.key = ip, probe, timing, key
        self.health = probes.RiseFall(timing.rise, timing.fall, up)
        self.due = due
        self.running = False
        self.alive = True  # False once the address or its check is gone (left in the heap, skipped)


@implementer(IMetrics)
class Scanner:
    def __init__(self, reactor, source, options: Options, clock=None):
        self.reactor = reactor  # probes and etcd writes (I/O)
        self.clock = clock if clock is not None else reactor  # when probes are due (block.clock)
        self.source = source
        self.options = options
        self.member = options.member or default_member()
        self.icmp = probes.icmp_allowed()
        self.checks: dict[tuple[str, probes.Probe], Check] = {}
        self.by_ip: dict[str, list[Check]] = {}
        self.owned: set[str] = set()
        self.state: dict[str, bool] = {}  # owned ip -> UP? as written (or found) in etcd
        self.heap: list = []
        self._seq = itertools.count()
        self.inflight = 0
        self.bad: dict[str, str] = {}  # key -> why its health field was not used
        self.probes_ok = self.probes_failed = 0
        self.changes = {"UP": 0, "DOWN": 0}
        self.late = 0.0  # seconds the last probe started after it was due
        self.agents: dict = {}
        self.writer = EtcdWriter(reactor, source.connection, source.status_prefix, self.member, options.lease)
        self._ticker: task.LoopingCall | None = None
        self._rebuild_pending = False
        self.running = False

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self):
        if self.running:
            return None
        self.running = True
        self.source.subscribe(self._changed)
        self.source.watch_members(self._members_changed)
        self._ticker = task.LoopingCall(self._tick)
        self._ticker.clock = self.clock
        self._ticker.start(TICK, now=False)
        self._rebuild()
        self.writer.start()  # registers; retries in the background while etcd is away
        return None

    def use(self, source, options: Options) -> None:
        """A reload: the new configuration's source and options, keeping counters and ownership."""
        if source is not self.source:
            if self.running:
                self.source.unsubscribe(self._changed)
                self.source.unwatch_members(self._members_changed)
                source.subscribe(self._changed)
                source.watch_members(self._members_changed)
            self.source = source
        self.options = options
        self._changed(None)

    def stop(self):
        self.running = False
        self.source.unsubscribe(self._changed)
        self.source.unwatch_members(self._members_changed)
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        return self.writer.stop()

    # -- what to probe ---------------------------------------------------------------------------
    def _changed(self, _name) -> None:
        if not self._rebuild_pending and self.running:
            self._rebuild_pending = True
            self.reactor.callLater(0, self._rebuild)

    def _members_changed(self) -> None:
        self._reown()

    def _rebuild(self) -> None:
        """The checks of every address in the zones, from the records now (counters kept for unchanged ones)."""
        self._rebuild_pending = False
        wanted: dict[tuple[str, probes.Probe], tuple[spec.Timing, str]] = {}
        per_address: dict[str, int] = {}
        bad: dict[str, str] = {}
        for key, svc in self.source.hosts():
            try:
                found = spec.read(svc.health, svc.port, self.options.timing, self.icmp)
            except spec.BadHealth as e:
                bad[key] = str(e)
                continue
            if found is not None:
                probe, timing = found
                if (svc.host, probe) in wanted:
                    continue
                if per_address.get(svc.host, 0) >= spec.MAX_CHECKS_PER_ADDRESS:
                    bad[key] = (f"{svc.host} has {spec.MAX_CHECKS_PER_ADDRESS} checks already, the most an address "
                                "may have")
                    continue
                per_address[svc.host] = per_address.get(svc.host, 0) + 1
                wanted[(svc.host, probe)] = (timing, key)
        for key, why in bad.items():
            if self.bad.get(key) != why:
                log.warn("etcd key {key}: health field not used ({why}); its address is not probed by it",
                         key=key, why=why)
        self.bad = bad
        now = self.clock.seconds()
        down = self.source.down()
        for k in list(self.checks):
            if k not in wanted or self.checks[k].timing != wanted[k][0]:
                self.checks.pop(k).alive = False
        for k, (timing, key) in wanted.items():
            if k not in self.checks:
                ip = k[0]
                # Spread the first probes over the interval, the same way on every scanner.
                offset = (score("", ip + repr(k[1])) % 1000) / 1000 * timing.interval
                self.checks[k] = Check(ip, k[1], timing, key, ip not in down, now + offset)
                heapq.heappush(self.heap, (now + offset, next(self._seq), self.checks[k]))
        self.by_ip = {}
        for c in self.checks.values():
            self.by_ip.setdefault(c.ip, []).append(c)
        self._reown()

    def _reown(self) -> None:
        """The addresses this scanner owns among the live scanners (itself included)."""
        members = set(self.source.members()) | {self.member}
        owned = {ip for ip in self.by_ip if owner(members, ip) == self.member}
        gained, lost = owned - self.owned, self.owned - owned
        self.owned = owned
        down = self.source.down()
        known = self.source.statuses()
        for ip in gained:
            # Taken over (or new): its state as etcd has it, written again under this scanner's lease.
            up = ip not in down
            self.state[ip] = up
            for c in self.by_ip[ip]:
                c.health.reset(up)
            was = known.get(ip)
            since = was["since"] if was is not None and was["status"] == ("UP" if up else "DOWN") else None
            self.writer.put(ip, "UP" if up else "DOWN", since)
        for ip in lost:
            self.state.pop(ip, None)
            if ip not in self.by_ip:  # gone from the records: its key goes too
                self.writer.put(ip, None)
        if gained or lost:
            log.info("scanner {member}: {n} addresses of {total} are mine ({members} scanners)",
                     member=self.member, n=len(owned), total=len(self.by_ip), members=len(members))

    # -- probing ----------------------------------------------------------------------------------
    def _tick(self) -> None:
        now = self.clock.seconds()
        heap = self.heap
        limit = self.options.max_inflight
        later = []  # rescheduled: put back after the loop, so each check is looked at once a tick, whatever its times
        while heap and heap[0][0] <= now and self.inflight < limit:
            due, _, c = heapq.heappop(heap)
            if not c.alive:
                continue
            if c.ip not in self.owned or c.running:
                c.due = due + c.timing.interval
                later.append(c)
                continue
            self.late = now - due
            self._probe(c)
            # The next one counted from when it was due, not from now: the rate holds however late.
            c.due = max(due + c.timing.interval, now)
            later.append(c)
        for c in later:
            heapq.heappush(heap, (c.due, next(self._seq), c))

    def _probe(self, c: Check) -> None:
        c.running = True
        self.inflight += 1
        d = probes.run(self.reactor, c.ip, c.probe, c.timing.timeout, self.options.source_address, self.agents)
        d.addBoth(self._result, c)

    def _result(self, ok, c: Check) -> None:
        c.running = False
        self.inflight -= 1
        ok = ok is True
        if ok:
            self.probes_ok += 1
        else:
            self.probes_failed += 1
        c.health.record(ok)
        if not c.alive or c.ip not in self.owned:
            return
        up = all(x.health.up for x in self.by_ip.get(c.ip, ()))
        if self.state.get(c.ip) != up:
            self.state[c.ip] = up
            status = "UP" if up else "DOWN"
            self.changes[status] += 1
            log.info("scanner {member}: {ip} is {status} ({kind} check of {key})", member=self.member, ip=c.ip,
                     status=status, kind=c.probe.type, key=c.key)
            self.writer.put(c.ip, status)

    # -- IMetrics -------------------------------------------------------------------------------
    def collect(self, prefix: str):
        labels = ["scanner"]
        who = [self.member]
        probes_total = CounterMetricFamily(prefix + "scanner_probes", "Probes finished, by result.",
                                           labels=labels + ["result"])
        probes_total.add_metric(who + ["ok"], self.probes_ok)
        probes_total.add_metric(who + ["fail"], self.probes_failed)
        changes = CounterMetricFamily(prefix + "scanner_state_changes", "Addresses changing state, by new state.",
                                      labels=labels + ["to"])
        for status, n in self.changes.items():
            changes.add_metric(who + [status.lower()], n)
        gauges = []
        for name, doc, value in (
                ("scanner_addresses_owned", "Addresses this scanner probes.", len(self.owned)),
                ("scanner_checks", "Checks of every address in the zones (an address has at most 4).",
                 len(self.checks)),
                ("scanner_addresses_down", "Owned addresses DOWN.", sum(1 for v in self.state.values() if not v)),
                ("scanner_members", "Scanners registered (this one included).",
                 len(set(self.source.members()) | {self.member})),
                ("scanner_probes_inflight", "Probes running now.", self.inflight),
                ("scanner_late_seconds", "How late the last probe started after it was due.", self.late),
                ("scanner_write_errors", "Status writes etcd did not take (retried).", self.writer.write_errors),
                ("scanner_writes", "Status keys written (a change of state, a new owner, a new lease).",
                 self.writer.writes),
                ("scanner_lease_ttl_seconds", "The TTL of the lease the status keys are written under (0: none "
                 "held).", self.options.lease if self.writer.lease else 0),
                ("scanner_rise", "Successes that bring an address back.", self.options.timing.rise)):
            g = GaugeMetricFamily(prefix + name, doc, labels=labels)
            g.add_metric(who, value)
            gauges.append(g)
        return [probes_total, changes] + gauges


