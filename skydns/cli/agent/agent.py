"""The registration agent at work: each service checked on its own timer, its key kept only while it passes.

A service is registered at its first passing check, withdrawn after ``fall`` failures in a
row and registered again after ``rise`` passes; its key lives under the agent's etcd lease
(:class:`skydns.clients.etcd.leased.LeasedKeys`), so a killed agent's services go when the
lease runs out, and an etcd outage ends with every passing service written again.
:meth:`Agent.stop` (SIGTERM) revokes the lease: the services go at once.
"""
from __future__ import annotations

from twisted.internet import task
from twisted.logger import Logger

from skydns.cli.agent.spec import Service
from skydns.clients import probes
from skydns.clients.etcd.leased import LeasedKeys

log = Logger(namespace="skydns.agent")


class Watched:
    """One service and its check's state."""

    def __init__(self, service: Service, key: str):
        self.service = service
        self.key = key
        self.health = probes.RiseFall(service.timing.rise, service.timing.fall)
        self.checked = False  # the first result decides; then rise and fall
        self.running = False
        self.loop: task.LoopingCall | None = None


class Agent:
    def __init__(self, reactor, connection, prefix: str, services: list[Service], lease: int, who: str):
        self.reactor = reactor
        self.prefix = prefix.rstrip("/")
        self.keys = LeasedKeys(reactor, connection, lease, who, log)
        self.who = who
        self.watched = [Watched(s, s.key(self.prefix)) for s in services]
        self.agents: dict = {}  # HTTP agents of the http checks, kept

    def start(self):
        d = self.keys.start()  # takes the lease (retrying while etcd is away), then writes what is wanted
        for w in self.watched:
            if w.service.probe is None:
                self._set(w, True)
                continue
            w.loop = task.LoopingCall(self._check, w)
            w.loop.clock = self.reactor
            w.loop.start(w.service.timing.interval, now=True)
        return d

    def stop(self):
        """Stop checking and revoke the lease: every registration goes at once."""
        for w in self.watched:
            if w.loop is not None and w.loop.running:
                w.loop.stop()
        return self.keys.stop()

    def _check(self, w: Watched) -> None:
        if w.running:
            return  # the last one is still out (a slow command): not two at once
        w.running = True
        s = w.service
        assert s.probe is not None  # services without a check have no timer
        d = probes.run(self.reactor, s.address, s.probe, s.timing.timeout, agents=self.agents)
        d.addBoth(self._result, w)

    def _result(self, ok, w: Watched) -> None:
        w.running = False
        ok = ok is True
        if not w.checked:
            w.checked = True
            w.health.reset(ok)
            self._set(w, ok)
        elif w.health.record(ok):
            self._set(w, w.health.up)

    def _set(self, w: Watched, up: bool) -> None:
        s = w.service
        what = "registered" if up else ("withdrawn" if w.key in self.keys.current else "not registered")
        log.info("{who}: {name} {address}:{port} {what} ({check})", who=self.who, name=s.name, address=s.address,
                 port=s.port, what=what, check=_describe(s.probe, up))
        self.keys.put(w.key, s.value() if up else None)


def _describe(probe, up: bool) -> str:
    if probe is None:
        return "not checked"
    kind = " ".join(probe.command) if probe.type == "command" else probe.type
    return f"{kind} check {'passes' if up else 'fails'}"
