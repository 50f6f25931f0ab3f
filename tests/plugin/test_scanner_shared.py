"""Several scanners against one etcd (real processes): each address has exactly one owner; a scanner that
joins takes its share; one killed with SIGKILL has its addresses probed by the others within the lease
period; when every scanner is gone their status keys expire (answers fail open)."""
import os
import signal
import subprocess
import time

import pytest

from helpers import LEASE_REVOKE_SLACK, eventually
from helpers.listeners import TCPService
from helpers.processes import BIN, ROOT, env, wait_until_serving
from skydns import testing

pytestmark = pytest.mark.integration
LEASE = 2
ADDRESSES = [f"127.0.2.{i}" for i in range(1, 31)]


def start_scanner(tmp_path, data, n):
    port = testing.free_port()
    corefile = tmp_path / f"Corefile{n}"
    corefile.write_text(
        f"skydns.local:{port} {{\n bind 127.0.0.1\n etcd {{\n  path {data.path}\n  endpoint {data.server.url}\n"
        f"  monitor {data.path}/monitor/status\n }}\n scanner {{\n  interval 200ms\n  timeout 150ms\n"
        f"  lease {LEASE}s\n  id s{n}\n  source_address 127.0.3.{n}\n }}\n}}\n")
    proc = subprocess.Popen([os.path.join(BIN, "skydns"), "-c", str(corefile)], env=env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_serving(port, proc)
    return proc


def status_keys(data):
    return {meta.key.decode().rsplit("/", 1)[1] for _, meta in data.client.get_prefix(f"{data.path}/monitor/status/")
            if "/scanners/" not in meta.key.decode()}


def owners(data) -> dict:
    """Which scanner owns (and alone probes) each address: a status key is written under its owner's lease,
    and a scanner registers under ``PREFIX/scanners/<id>`` with that same lease."""
    prefix = f"{data.path}/monitor/status/"
    by_lease, keys = {}, {}
    for _, meta in data.client.get_prefix(prefix):
        key = meta.key.decode()[len(prefix):]
        if key.startswith("scanners/"):
            by_lease[meta.lease_id] = key[len("scanners/"):]
        else:
            keys[key] = meta.lease_id
    return {ip: by_lease.get(lease) for ip, lease in keys.items()}


def settled(data, want_scanners):
    seen = owners(data)
    return set(seen) == set(ADDRESSES) and set(seen.values()) == want_scanners, seen


def test_scanners_share_take_over_and_expire(tmp_path, data):
    services = {ip: TCPService(ip) for ip in ADDRESSES}
    for i, ip in enumerate(ADDRESSES):
        data.put(f"x{i}.db.skydns.local", {"host": ip, "port": services[ip].port})
    procs = {}
    try:
        procs[1] = start_scanner(tmp_path, data, 1)
        procs[2] = start_scanner(tmp_path, data, 2)
        ok = eventually(lambda: settled(data, {"s1", "s2"})[0], timeout=10, interval=0.1)
        assert ok, settled(data, {"s1", "s2"})[1]
        # a third joins: the work is split three ways, each address still probed by exactly one
        procs[3] = start_scanner(tmp_path, data, 3)
        want = {"s1", "s2", "s3"}
        ok = eventually(lambda: settled(data, want)[0], timeout=10, interval=0.1)
        assert ok, settled(data, want)[1]
        mine = [ip for ip, owner in owners(data).items() if owner == "s1"]

        def probed_by_owners():
            """Between two looks, was every address probed, and only from its owner's source address?"""
            seen = {ip: set(s.peers) for ip, s in services.items()}
            for s in services.values():
                s.peers.clear()
            owner = owners(data)
            return all(seen[ip] == {"127.0.3." + owner[ip][1:]} for ip in ADDRESSES)

        assert eventually(probed_by_owners, timeout=5, interval=0.3)
        assert mine and len(status_keys(data)) == len(ADDRESSES)
        # SIGKILL one: no goodbye, its lease runs out; the others take its addresses over
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait()
        killed = time.monotonic()
        for s in services.values():
            s.peers.clear()
        # within the lease, and etcd's revoke retries when it is busy
        assert eventually(lambda: all(services[ip].peers for ip in mine), timeout=LEASE + LEASE_REVOKE_SLACK,
                          interval=0.05)
        taken = time.monotonic() - killed
        print(f"\nscanner s1 killed: its {len(mine)} addresses probed by the others after {taken:.2f}s "
              f"(lease {LEASE}s)")
        ok = eventually(lambda: settled(data, {"s2", "s3"})[0], timeout=10, interval=0.1)
        assert ok, settled(data, {"s2", "s3"})[1]
        # every scanner gone: the status keys expire with their leases, nothing is stuck DOWN
        for n in (2, 3):
            procs[n].send_signal(signal.SIGKILL)
            procs[n].wait()
        gone = time.monotonic()
        assert eventually(lambda: not status_keys(data), timeout=LEASE + LEASE_REVOKE_SLACK)
        print(f"every scanner killed: status keys gone after {time.monotonic() - gone:.2f}s")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for s in services.values():
            s.stop()
