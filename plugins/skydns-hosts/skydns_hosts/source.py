"""The hosts entries as a record source: services that skydns's shared answer builder turns into answers.

:class:`HostsSource` provides :class:`~skydns.interfaces.IRecordSource` (services by name, so the
cache, dnssec and the answer builder work with it as with etcd, and the cache drops what it kept
when the file changes), :class:`~skydns.interfaces.IReadiness` and the metrics.
"""
from __future__ import annotations

import os
import time

from prometheus_client.core import GaugeMetricFamily
from twisted.internet import task, threads
from twisted.logger import Logger
from zope.interface import implementer

from skydns.interfaces import ICoreDNSMetrics, IMetrics, IReadiness, IRecordSource
from skydns.msg.service import Service
from skydns_hosts.hostsfile import Entries, parse

log = Logger(namespace="skydns_hosts")


def _read(path: str, reverse: bool) -> tuple[tuple, Entries | None]:
    """In a thread: the file's identity (inode, size, mtime) and its entries; None when it cannot be read."""
    try:
        st = os.stat(path)
        with open(path, encoding="utf-8", errors="replace") as f:
            return (st.st_ino, st.st_size, st.st_mtime_ns), parse(f, reverse)
    except OSError:
        return (), None


@implementer(IRecordSource, IReadiness, IMetrics, ICoreDNSMetrics)
class HostsSource:
    """Inline entries and a file, re-read every ``reload`` seconds when it changed (0: never)."""

    name = "hosts"

    def __init__(self, zones: list[str], path: str | None, inline: Entries, reload: float, reverse: bool,
                 reactor, clock, server: str = ""):
        self.zones = zones
        self.path = path
        self.inline = inline
        self.reload = reload
        self.reverse = reverse
        self.reactor = reactor  # its threads read the file
        self.clock = clock  # block.clock: when to look again
        self.server = server
        self.entries = Entries()
        self.entries.update(inline)
        self.synced = False
        self.read_at = 0.0  # wall time of the last read, for the metric
        self.unreadable: str | None = None
        self._identity: tuple = ()
        self._listeners: list = []
        self._loop: task.LoopingCall | None = None

    # -- life cycle -------------------------------------------------------------------------------
    def start(self):
        """Read the file (a Deferred: the configuration serves once it is read), then look for changes."""
        d = self._check()
        if self.path is not None and self.reload:
            self._loop = task.LoopingCall(self._check)
            self._loop.clock = self.clock
            self._loop.start(self.reload, now=False)
        return d

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _check(self):
        if self.path is None:
            self.synced = True
            return None
        d = threads.deferToThreadPool(self.reactor, self.reactor.getThreadPool(), _read, self.path, self.reverse)
        return d.addCallback(self._read)

    def _read(self, result) -> None:
        identity, entries = result
        if entries is None:
            if self.unreadable is None:
                log.warn("hosts: cannot read {path}; serving the inline entries", path=self.path)
            self.unreadable = f"cannot read {self.path}"
            if self._identity != ():
                self._identity = ()
                self._install(Entries())
            self.synced = True
            return
        self.unreadable = None
        if identity == self._identity:
            self.synced = True
            return
        self._identity = identity
        for number, why in entries.bad:
            log.warn("hosts: {path}:{line}: {why}; line skipped", path=self.path, line=number, why=why)
        self._install(entries)
        self.synced = True

    def _install(self, from_file: Entries) -> None:
        entries = Entries()
        entries.update(from_file)
        entries.update(self.inline)  # inline lines win over the file
        self.entries = entries
        self.read_at = time.time()
        log.info("hosts: {count} entries from {path} and inline", count=len(entries), path=self.path)
        for fn in list(self._listeners):
            fn(None)  # anything may have changed

    # -- IRecordSource ---------------------------------------------------------------------------
    def services(self, name: str, exact: bool = False):
        """The addresses of ``name`` (hosts names do not aggregate: ``exact`` is the same), the names of a
        reverse name, or a ``*.parent`` entry's addresses for a name one label below ``parent``."""
        addresses = self.entries.addresses.get(name)
        if addresses is None and "." in name.rstrip("."):
            parent = name.split(".", 1)[1]
            addresses = self.entries.addresses.get("*." + parent)
        if addresses is not None:
            return [Service(name, host=a) for a in addresses]
        names = self.entries.reverse.get(name)
        if names is not None:
            return [Service(name, host=n) for n in names]
        return None

    def exists(self, name: str) -> bool:
        return self.services(name) is not None

    def subscribe(self, fn) -> None:
        if fn not in self._listeners:
            self._listeners.append(fn)

    def unsubscribe(self, fn) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    # -- readiness and metrics ---------------------------------------------------------------------
    def ready(self) -> str | None:
        if not self.synced:
            return f"{self.path} not read yet"
        return self.unreadable

    def collect(self, prefix: str):
        entries = GaugeMetricFamily(prefix + "hosts_entries", "Addresses served by hosts (file and inline).",
                                    labels=["server"])
        entries.add_metric([self.server], len(self.entries))
        read = GaugeMetricFamily(prefix + "hosts_reload_timestamp_seconds", "When the hosts file was last read.",
                                 labels=["server"])
        read.add_metric([self.server], self.read_at)
        return [entries, read]

    def collect_coredns(self):
        entries = GaugeMetricFamily("coredns_hosts_entries", "The combined number of entries in hosts and Corefile.")
        entries.add_metric([], len(self.entries))
        return [entries]
