"""The etcd plugin's records as other plugins read them: an IRecordSource over the watched copy."""
from __future__ import annotations

from zope.interface import implementer

from skydns.clients.etcd.records import EtcdRecords
from skydns.interfaces import IReadiness, IRecordSource, IRecordTree, IStatus, IWritableSource, IZoneEditor, IZoneSource
from skydns.msg import path


@implementer(IRecordSource, IWritableSource, IReadiness, IZoneSource, IZoneEditor, IRecordTree, IStatus)
class EtcdSource:
    """The copy of one etcd prefix, for the zones of one etcd directive.

    Changes come from the copy's watch; a health monitor's changes (an address
    going DOWN or UP) are announced as "anything may have changed" (None).
    """

    name = "etcd"

    def __init__(self, copy, zones: list[str], reader, monitor=None, zone_data=None):
        self.copy = copy
        self.zones = zones
        self.reader = reader  # the one reader of the copy (skydns.plugin.etcd.reader)
        self.monitor = monitor
        self.zone_data = zone_data  # a zonedata.ZoneData: the zones as zone data (IZoneSource)
        self._store: EtcdRecords | None = None

    @property
    def synced(self) -> bool:
        return self.copy.synced

    def services(self, name: str, exact: bool = False):
        return self.reader.services(name, exact)

    def exists(self, name: str) -> bool:
        return self.reader.exists(name)

    def _copies(self):
        return [c for c in (self.copy, self.monitor) if c is not None]

    def subscribe(self, fn) -> None:
        for c in self._copies():
            if fn not in c.listeners:
                c.listeners.append(fn)

    def unsubscribe(self, fn) -> None:
        for c in self._copies():
            if fn in c.listeners:
                c.listeners.remove(fn)

    def store(self) -> EtcdRecords:
        """In a thread: the records under the copy's prefix, connecting (with failover) the first time."""
        if self._store is None:
            connection = self.copy.connection
            last: Exception | None = None
            for endpoint in connection.endpoints:
                try:
                    client = connection.client(endpoint)
                    client.status()
                    # SkyDNS's config key and the health monitor's status keys are never records
                    reserved = [self.copy.prefix + "/config"]
                    if self.monitor is not None:
                        reserved.append(self.monitor.prefix)
                    self._store = EtcdRecords(client, self.copy.prefix, reserved)
                    break
                except Exception as e:
                    last = e
            if self._store is None:
                raise ConnectionError(f"etcd unreachable: {last}")
        return self._store

    # -- IZoneSource ---------------------------------------------------------------------------
    def serial(self, zone: str) -> int:
        return self.zone_data.serial(zone)

    def soa(self, zone: str, serial: int | None = None) -> bytes:
        return self.zone_data.soa(zone, serial)

    def names(self, zone: str) -> list[str]:
        return self.zone_data.names(zone)

    def rrs(self, zone: str, name: str) -> tuple:
        return self.zone_data.rrs(zone, name)

    def owners(self, zone: str, name: str) -> list[str]:
        return self.zone_data.owners(zone, name)

    # -- IZoneEditor ------------------------------------------------------------------------------
    def edit(self, zone: str, names: list[str]):
        """A Deferred IZoneEdit of ``names``, read from etcd (in a thread) with their revisions."""
        from twisted.internet import threads

        from skydns.plugin.etcd import editor

        reactor = self.copy.reactor
        d = threads.deferToThreadPool(reactor, reactor.getThreadPool(), editor.read, self, names)
        return d.addCallback(lambda reads: editor.Edit(self, zone, reads))

    # -- IMonitoredSource (declared at build when ``monitor`` is set) ---------------------
    @property
    def status_prefix(self) -> str | None:
        return self.monitor.prefix if self.monitor is not None else None

    @property
    def connection(self):
        return self.copy.connection

    @property
    def prefix(self) -> str:
        return self.copy.prefix

    def hosts(self) -> list:
        """``[(key, service)]`` of every service in the zones with an address for a host (key order)."""
        out: list = []
        zones = [path.name_labels(z) for z in self.zones]
        prefix = self.copy.prefix

        def walk(node, labels):
            svc = node.record
            if svc is not None and svc.kind in ("A", "AAAA") and any(labels[:len(z)] == z for z in zones):
                out.append((prefix + "/" + "/".join(labels), svc))
            if node.children:
                for label, child in node.children.items():
                    labels.append(label)
                    walk(child, labels)
                    labels.pop()

        walk(self.copy.index.root, [])
        return out

    def down(self) -> set:
        return self.monitor.down if self.monitor is not None else set()

    def statuses(self) -> dict:
        return self.monitor.statuses if self.monitor is not None else {}

    def members(self) -> dict:
        return self.monitor.members if self.monitor is not None else {}

    def watch_members(self, fn) -> None:
        if self.monitor is not None and fn not in self.monitor.member_listeners:
            self.monitor.member_listeners.append(fn)

    def unwatch_members(self, fn) -> None:
        if self.monitor is not None and fn in self.monitor.member_listeners:
            self.monitor.member_listeners.remove(fn)

    # -- IRecordTree ------------------------------------------------------------------------------
    def children(self, name: str) -> list:
        node = self.copy.index.root
        for label in path.name_labels(name):
            node = (node.children or {}).get(label)
            if node is None:
                return []
        kids = node.children or {}
        return [(label, kids[label].record is not None, bool(kids[label].children)) for label in sorted(kids)]

    # -- IStatus ----------------------------------------------------------------------------------
    def status(self) -> list:
        copy = self.copy
        out = [("prefix", copy.prefix), ("zones", " ".join(self.zones)),
               ("endpoint", str(copy.endpoint) if copy.connected else "none (connecting)"),
               ("endpoints", ", ".join(str(e) for e in copy.connection.endpoints)),
               ("revision", copy.revision), ("keys", copy.index.count),
               ("confirmed current", f"{copy.age():.1f} s ago" if copy.synced else "not read yet"),
               ("reconnections", copy.reconnects)]
        if self.monitor is not None:
            out += [("monitor", self.monitor.prefix), ("monitored addresses", len(self.monitor.statuses)),
                    ("down", len(self.monitor.down)), ("scanners", len(self.monitor.members))]
        return out

    def ready(self) -> str | None:
        """Not ready before the first read, nor while etcd is unreachable or the copy stale."""
        copy = self.copy
        if copy.fresh():
            return None
        eps = ", ".join(str(e) for e in copy.connection.endpoints)
        if not copy.synced:
            return f"copy of {copy.prefix} not read yet (etcd at {eps})"
        return (f"copy of {copy.prefix} not confirmed current for {copy.age():.0f}s, serving it as it is "
                f"(etcd at {eps})")
