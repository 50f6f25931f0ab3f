"""One zone as last rendered, and the changes since: what AXFR sends, IXFR's history, NOTIFY's trigger.

The zone's records are kept as wire RRs per name (from IZoneSource.rrs), updated
name by name as the source reports changes; each change that alters a name's
records is journaled with the serial it produced. IXFR (RFC 1995) answers from
the journal: the records of every changed name at the client's serial against
now, condensed into one difference. The journal starts when the zone is first
read and holds the last ``MAX_HISTORY`` changes; a client older than that (or than
the server's start, or a re-read after an etcd compaction) gets the whole zone.

Reading a whole zone (100,000 names take seconds) is done a few hundred names
at a time between the reactor's other work, so DNS answers go on meanwhile;
names that change during the read are read again at its end.
"""
from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer, task

MAX_HISTORY = 100_000


class ZoneJournal:
    def __init__(self, source, zone: str, changed: Callable[[], None] | None = None):
        self.source = source
        self.zone = zone
        self.changed = changed  # called after a change altered the zone's data (NOTIFY)
        self.data: dict[str, tuple] | None = None  # name -> wire RRs, the apex first
        self.serial = 0
        self.base = 0  # the oldest serial IXFR can start from
        self.history: list[tuple[int, str, tuple]] = []  # (serial after, name, its records before)
        self._loading: list | None = None  # while the zone is read: who waits for it
        self._dirty: set[str] = set()

    #: Names read between two turns of the reactor while a whole zone is read.
    STEP = 200

    def load(self) -> defer.Deferred:
        """Read the whole zone from the source (again, after a re-read: the history restarts); fires when done."""
        if self._loading is not None:
            waiter: defer.Deferred = defer.Deferred()
            self._loading.append(waiter)
            return waiter
        self._loading = []
        self._dirty = set()
        zone, source = self.zone, self.source
        data: dict[str, tuple] = {}

        def steps():
            for i, name in enumerate(source.names(zone)):
                rrs = source.rrs(zone, name)
                if rrs:
                    data[name] = rrs
                if i % self.STEP == 0:
                    yield None

        def done(_):
            for name in self._dirty:  # changed while being read: as they are now
                rrs = source.rrs(zone, name)
                if rrs:
                    data[name] = rrs
                else:
                    data.pop(name, None)
            before, self.data = self.data, data
            self.serial = self.base = source.serial(zone)
            self.history = []
            waiting, self._loading = self._loading or [], None
            for w in waiting:
                w.callback(None)
            if before is not None and before != data and self.changed is not None:
                self.changed()
            return None

        return task.cooperate(steps()).whenDone().addCallback(done)

    def on_change(self, name: str | None) -> None:
        """The source changed ``name`` (None: anything): update its records, journal what changed."""
        if self._loading is not None:
            if name is not None:
                self._dirty.update(self.source.owners(self.zone, name))
                self._dirty.add(self.zone)
            return
        if self.data is None:
            return
        zone = self.zone
        if name is None:
            self.load()  # in the background; NOTIFY when it differs
            return
        if not (name == zone or name.endswith("." + zone) or zone == "."):
            return
        names = self.source.owners(zone, name)
        serial = self.source.serial(zone)
        altered = False
        for n in names:
            old = self.data.get(n, ())
            new = self.source.rrs(zone, n)
            if new == old:
                continue
            altered = True
            self.history.append((serial, n, old))
            if new:
                self.data[n] = new
            else:
                self.data.pop(n, None)
        if altered:
            self.serial = serial
            if len(self.history) > MAX_HISTORY:
                dropped = self.history[: len(self.history) - MAX_HISTORY]
                self.history = self.history[len(dropped):]
                self.base = dropped[-1][0]
            if self.changed is not None:
                self.changed()

    def difference(self, since: int) -> tuple[list[bytes], list[bytes]] | None:
        """(records removed, records added) from serial ``since`` to now; None when the history does not
        reach back that far."""
        if since < self.base or since > self.serial:
            return None
        assert self.data is not None
        before: dict[str, tuple] = {}
        for serial, name, old in self.history:
            if serial > since and name not in before:
                before[name] = old
        removed: list[bytes] = []
        added: list[bytes] = []
        for name, old in before.items():
            new = self.data.get(name, ())
            removed.extend(sorted(set(old) - set(new)))
            added.extend(sorted(set(new) - set(old)))
        return removed, added
