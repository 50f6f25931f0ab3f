"""The SOA serial a zone is served with: the etcd revision of its last change, as other plugins edit it.

One function for the answers' SOA and the zone data's (transfers), so that a query and a
transfer always tell the same serial; ``dnssec`` adds its signatures' generation
(:class:`skydns.interfaces.ISerialEdit`).
"""
from __future__ import annotations


class ZoneSerial:
    def __init__(self, copy):
        self.copy = copy
        self.edits: dict = {}  # zone -> ISerialEdit

    def use(self, editors) -> None:
        """The block's serial editors (found at startup: they are built after the etcd plugin)."""
        self.edits = {zone: e for e in editors for zone in e.zones}

    def __call__(self, zone: str) -> int:
        serial = self.copy.serial(zone)
        if self.edits:
            editor = self.edits.get(zone)
            if editor is not None:
                return editor.edit(zone, serial) & 0xFFFFFFFF
        return serial
