"""Nameservers a plugin sends queries to (forward's upstreams, stub's nameservers), and their health.

A nameserver is marked down after ``max_fails`` failed queries in a row; from
then on a health check (``. IN NS``, CoreDNS's probe) is sent every
``interval`` until it answers, and then it is up again. Plugins try the ones
that are up first (:func:`order`), and the ones down only when all are.
"""
from __future__ import annotations

import dns.message
from twisted.internet import task
from twisted.logger import Logger


class Nameserver:
    def __init__(self, host: str, port: int, proto: str = "dns", tls=None, name: str = ""):
        self.host = host
        self.port = port
        self.tls = tls  # Twisted client TLS options for tls:// and https:// upstreams
        self.proto = proto  # "dns", "tls" or "https"
        self.source: str | None = None  # the local address queries leave from (forward's source_address)
        self.name = name or (f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        self.fails = 0
        self.down = False
        self.checker: task.LoopingCall | None = None
        self.requests = 0
        self.failures = 0
        self.inflight = 0  # queries sent and not answered yet
        #: proto ("udp", "tcp", "tls") -> a pools.UDPPool or StreamPool: the socket or
        #: connection queries to this upstream share (TLS always; the others with expire)
        self.pools: dict = {}

    def __repr__(self):
        return f"<Nameserver {self.proto}://{self.name}{' down' if self.down else ''}>"


class InflightLimit:
    """The queries one plugin has out at its nameservers, and the bound on them (0: none).

    Past the bound a query is refused at once instead of taking another socket: a silent nameserver
    then costs its plugin queries, never the descriptors the rest of the server needs (the default
    bound is ``dnsclient.default_max_inflight()``).
    """

    def __init__(self, limit: int = 0):
        self.limit = limit
        self.count = 0

    def full(self) -> bool:
        return bool(self.limit) and self.count >= self.limit

    def track(self, d):
        """Count ``d`` until it fires; returns it."""
        self.count += 1
        return d.addBoth(self._done)

    def _done(self, result):
        self.count -= 1
        return result


def healthy_first(nameservers: list) -> list:
    """The nameservers that are up, in the order given; all of them when every one is down."""
    healthy = [n for n in nameservers if not n.down]
    return healthy or list(nameservers)


class Health:
    """Counts failures and runs health checks for the nameservers of one plugin (``plugin`` names it in logs)."""

    def __init__(self, client, reactor, interval: float, max_fails: int, recursion: bool = True,
                 domain: str = ".", plugin: str = "forward"):
        self.log = Logger(namespace=f"skydns.plugin.{plugin}")
        self.client = client
        self.reactor = reactor
        self.interval = interval
        self.max_fails = max_fails
        q = dns.message.make_query(domain, "NS")
        if not recursion:
            q.flags &= ~dns.flags.RD
        self.probe = q.to_wire()

    def ok(self, up: Nameserver) -> None:
        up.fails = 0
        if up.down:
            self._up(up)

    def failed(self, up: Nameserver) -> None:
        up.fails += 1
        up.failures += 1
        if self.max_fails and up.fails >= self.max_fails and not up.down:
            up.down = True
            self.log.warn("upstream {up} marked down after {n} failed queries; health checking every {i:g}s",
                     up=up.name, n=up.fails, i=self.interval)
            if self.interval > 0:
                checker = up.checker = task.LoopingCall(self._check, up)
                checker.clock = self.reactor
                checker.start(self.interval, now=False)

    def _check(self, up: Nameserver):
        proto = up.proto if up.proto != "dns" else "udp"  # the upstream's own transport, as CoreDNS
        d = self.client.query(self.probe, up.host, up.port, proto, timeout=max(self.interval, 0.5), tls=up.tls,
                              pool=up.pools.get(proto) if proto == "https" else None, source=up.source)
        d.addCallbacks(lambda _: self.ok(up), lambda f: None)
        return None  # never let a failed probe stop the loop

    def _up(self, up: Nameserver) -> None:
        up.down = False
        up.fails = 0
        if up.checker is not None and up.checker.running:
            up.checker.stop()
        up.checker = None
        self.log.info("upstream {up} is healthy again", up=up.name)

    def stop(self, upstreams) -> None:
        for up in upstreams:
            if up.checker is not None and up.checker.running:
                up.checker.stop()
            up.checker = None
            for pool in up.pools.values():
                pool.close()
