"""The etcd plugin's records as other plugins read them: an IRecordSource over the watched copy."""
from __future__ import annotations

from zope.interface import implementer

from skydns.etcd.records import EtcdRecords
from skydns.interfaces import IReadiness, IRecordSource
from skydns.msg import path


@implementer(IRecordSource, IReadiness)
class EtcdSource:
    """The copy of one etcd prefix, for the zones of one etcd directive.

    Changes come from the copy's watch; a health monitor's changes (an address
    going DOWN or UP) are announced as "anything may have changed" (None).
    """

    name = "etcd"

    def __init__(self, copy, zones: list[str], monitor=None):
        self.copy = copy
        self.zones = zones
        self.monitor = monitor
        self._store: EtcdRecords | None = None

    @property
    def synced(self) -> bool:
        return self.copy.synced

    def services(self, name: str, exact: bool = False):
        labels = path.name_labels(name)
        index = self.copy.index
        found = index.lookup(labels, exact=exact)
        if not found and not index.exists(labels):
            return None
        return found

    def exists(self, name: str) -> bool:
        return self.copy.index.exists(path.name_labels(name))

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
                    self._store = EtcdRecords(client, self.copy.prefix)
                    break
                except Exception as e:
                    last = e
            if self._store is None:
                raise ConnectionError(f"etcd unreachable: {last}")
        return self._store

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
