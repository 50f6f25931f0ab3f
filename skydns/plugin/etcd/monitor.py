"""The monitor copy: the health status of monitored addresses, and the scanners that write it.

A :class:`~skydns.plugin.etcd.mirror.PrefixCopy` of keys ``PREFIX/<ip>`` holding
``{"status": "UP"|"DOWN"}`` (the Kubernetes fork's monitor): the addresses whose
status is DOWN are in :attr:`MonitorCopy.down`, and answers leave them out (see
:mod:`skydns.plugin.etcd.reader`). Scanners register under ``PREFIX/scanners/<id>``
(:attr:`MonitorCopy.members`) to share the probing.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from twisted.logger import Logger

from skydns.plugin.etcd.mirror import PrefixCopy

log = Logger(namespace="skydns.plugin.etcd")

#: Under a status prefix, where the scanners register themselves (``PREFIX/scanners/<id>``).
MEMBERS = "scanners"


class MonitorCopy(PrefixCopy):
    """Health status keys under ``prefix``, kept current by a watch.

    :ivar down: the addresses whose status is DOWN now.
    :ivar statuses: every status key's address -> ``{"status", "since", "by"}`` (a console shows them).
    :ivar members: the scanners registered (id -> value).
    :ivar member_listeners: ``fn()`` called when a scanner registers or goes.

    A change of an address's status is announced to :attr:`listeners` as None
    ("anything may have changed": every name with that address).
    """

    things = "addresses down"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.down: set[str] = set()
        self.statuses: dict[str, dict] = {}
        self.members: dict[str, bytes] = {}
        self.member_listeners: list[Callable[[], None]] = []

    def _member(self, raw_key: bytes) -> str | None:
        """The scanner id of a ``PREFIX/scanners/<id>`` key, or None for a status key."""
        rest = raw_key.decode("utf-8", "replace")[len(self.prefix) + 1:]
        return rest[len(MEMBERS) + 1:] if rest.startswith(MEMBERS + "/") else None

    def _status(self, raw_key: bytes, value) -> tuple[str, dict | None]:
        """The address of a status key and what its value says (None: deleted)."""
        ip = raw_key.decode("utf-8", "replace")[len(self.prefix) + 1:]
        if value is None:
            return ip, None
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return ip, {"status": "?", "since": None, "by": None}
        since = data.get("since")
        by = data.get("by")
        return ip, {"status": str(data.get("status", "")).upper()[:8],
                    "since": since if isinstance(since, (int, float)) and not isinstance(since, bool) else None,
                    "by": by[:200] if isinstance(by, str) else None}

    def _members_changed(self) -> None:
        for hear in list(self.member_listeners):
            hear()

    # -- PrefixCopy ---------------------------------------------------------------------------
    def _build(self, kvs):
        down: set[str] = set()
        members: dict[str, bytes] = {}
        statuses: dict[str, dict] = {}
        for kv in kvs:
            member = self._member(kv.key)
            if member is not None:
                members[member] = kv.value
                continue
            ip, status = self._status(kv.key, kv.value)
            if status is not None:
                statuses[ip] = status
                if status["status"] == "DOWN":
                    down.add(ip)
        return down, members, statuses

    def _install(self, state, revision: int) -> int:
        down, members, statuses = state
        self.down = down
        self.statuses = statuses
        if members != self.members:
            self.members = members
            self._members_changed()
        return len(down)

    def _apply(self, event) -> None:
        deleted = type(event).__name__ == "DeleteEvent"
        member = self._member(event.key)
        if member is not None:
            if deleted:
                self.members.pop(member, None)
            else:
                self.members[member] = event.value
            self._members_changed()
            return
        ip, status = self._status(event.key, None if deleted else event.value)
        is_down = status is not None and status["status"] == "DOWN"
        if status is None:
            self.statuses.pop(ip, None)
        else:
            self.statuses[ip] = status
        was = ip in self.down
        (self.down.add if is_down else self.down.discard)(ip)
        if was != is_down:
            log.info("monitored address {ip} is {state}", ip=ip, state="DOWN" if is_down else "UP")
            self._changed(None)
