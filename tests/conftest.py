import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import json
import time
import uuid

import pytest


@pytest.fixture(scope="session")
def etcd(tmp_path_factory):
    """One real etcd for the test session, on free loopback ports, in a temporary folder."""
    from skydns.devetcd import LocalEtcd

    server = LocalEtcd(str(tmp_path_factory.mktemp("etcd"))).start()
    yield server
    server.stop()


class EtcdData:
    """A test's own corner of etcd: a unique path prefix, and puts by DNS name."""

    def __init__(self, server):
        self.server = server
        self.path = "/skydns-" + uuid.uuid4().hex[:10]
        self.client = server.client()

    def key(self, name: str) -> str:
        from skydns.msg.path import name_to_key
        return name_to_key(name.lower().rstrip(".") + ".", self.path)

    def put(self, name: str, value, lease=None) -> None:
        raw = value if isinstance(value, (str, bytes)) else json.dumps(value)
        self.client.put(self.key(name), raw, lease=lease)

    def put_key(self, key: str, raw) -> None:
        self.client.put(self.path + key, raw)

    def delete(self, name: str) -> None:
        self.client.delete(self.key(name))

    def block(self, zones="skydns.local", extra="", endpoint=None):
        """A server block serving ``zones`` from this corner of etcd."""
        return (f"{zones.replace(' ', ':0 ') + ':0'} {{\n etcd {{\n  path {self.path}\n"
                f"  endpoint {endpoint or self.server.url}\n{extra} }}\n}}\n")


@pytest.fixture
def data(etcd):
    d = EtcdData(etcd)
    yield d
    d.client.close()


def eventually(fn, timeout=5.0, interval=0.02):
    """Call ``fn`` until it returns a true value (returned) or ``timeout`` passes (its last value)."""
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > end:
            return value
        time.sleep(interval)


def counting_serve(handler):
    """Count the calls of ``handler.serve`` (the normal path reaching it): their query names."""
    calls = []
    serve = handler.serve

    def counted(request):
        calls.append(request.qname)
        return serve(request)
    handler.serve = counted
    return calls
