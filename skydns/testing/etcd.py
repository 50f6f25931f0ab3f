"""A real etcd for tests: one per test session on free loopback ports, and each test's own corner of it."""
from __future__ import annotations

import json
import uuid

from skydns.cli.devetcd import LocalEtcd

__all__ = ["EtcdData", "LocalEtcd"]


class EtcdData:
    """A test's own corner of etcd: a unique path prefix, and puts by DNS name.

    ``server`` is a :class:`~skydns.cli.devetcd.LocalEtcd` (the ``etcd`` fixture).
    """

    def __init__(self, server):
        self.server = server
        self.path = "/skydns-" + uuid.uuid4().hex[:10]
        self.client = server.client()

    def key(self, name: str) -> str:
        """The etcd key of ``name`` under this corner's path."""
        from skydns.msg.path import name_to_key
        return name_to_key(name.lower().rstrip(".") + ".", self.path)

    def put(self, name: str, value, lease=None) -> None:
        """Store ``value`` (a dict is written as JSON) at ``name``."""
        raw = value if isinstance(value, (str, bytes)) else json.dumps(value)
        self.client.put(self.key(name), raw, lease=lease)

    def put_key(self, key: str, raw) -> None:
        """Store ``raw`` at ``key`` below this corner's path."""
        self.client.put(self.path + key, raw)

    def delete(self, name: str) -> None:
        self.client.delete(self.key(name))

    def block(self, zones="skydns.local", extra="", endpoint=None):
        """A server block serving ``zones`` from this corner of etcd (``extra``: more etcd properties)."""
        return (f"{zones.replace(' ', ':0 ') + ':0'} {{\n etcd {{\n  path {self.path}\n"
                f"  endpoint {endpoint or self.server.url}\n{extra} }}\n}}\n")

    def close(self) -> None:
        self.client.close()
