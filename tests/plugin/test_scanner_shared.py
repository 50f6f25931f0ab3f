"""Several scanners against one etcd (real processes): each address has exactly one owner; a scanner that
joins takes its share; one killed with SIGKILL has its addresses probed by the others within the lease
period; when every scanner is gone their status keys expire (answers fail open)."""
import os
import signal
import subprocess
import time

import pytest

from helpers import eventually
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


def owners(services, seconds=1.0):
    """Which scanners (by source address) probed each address during ``seconds``."""
    for s in services.values():
        s.peers.clear()
    time.sleep(seconds)
    return {ip: set(s.peers) for ip, s in services.items()}


def settled(services, want_scanners):
    seen = owners(services)
    return all(len(p) == 1 for p in seen.values()) and set().union(*seen.values()) == want_scanners, seen


def test_scanners_share_take_over_and_expire(tmp_path, data):
    services = {ip: TCPService(ip) for ip in ADDRESSES}
    for i, ip in enumerate(ADDRESSES):
        data.put(f"x{i}.db.skydns.local", {"host": ip, "port": services[ip].port})
    procs = {}
    try:
        procs[1] = start_scanner(tmp_path, data, 1)
        procs[2] = start_scanner(tmp_path, data, 2)
        ok = eventually(lambda: settled(services, {"127.0.3.1", "127.0.3.2"})[0], timeout=10, interval=0.1)
        assert ok, settled(services, {"127.0.3.1", "127.0.3.2"})[1]
        # a third joins: the work is split three ways, each address still probed by exactly one
        procs[3] = start_scanner(tmp_path, data, 3)
        want = {"127.0.3.1", "127.0.3.2", "127.0.3.3"}
        ok = eventually(lambda: settled(services, want)[0], timeout=10, interval=0.1)
        assert ok, settled(services, want)[1]
        before = owners(services)
        mine = [ip for ip, p in before.items() if p == {"127.0.3.1"}]
        assert mine and len(status_keys(data)) == len(ADDRESSES)
        # SIGKILL one: no goodbye, its lease runs out; the others take its addresses over
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait()
        killed = time.monotonic()
        for s in services.values():
            s.peers.clear()
        assert eventually(lambda: all(services[ip].peers for ip in mine), timeout=LEASE * 3, interval=0.05)
        taken = time.monotonic() - killed
        print(f"\nscanner s1 killed: its {len(mine)} addresses probed by the others after {taken:.2f}s "
              f"(lease {LEASE}s)")
        assert taken < LEASE + 1.0
        ok = eventually(lambda: settled(services, {"127.0.3.2", "127.0.3.3"})[0], timeout=10, interval=0.1)
        assert ok
        # every scanner gone: the status keys expire with their leases, nothing is stuck DOWN
        for n in (2, 3):
            procs[n].send_signal(signal.SIGKILL)
            procs[n].wait()
        gone = time.monotonic()
        assert eventually(lambda: not status_keys(data), timeout=LEASE * 3)
        print(f"every scanner killed: status keys gone after {time.monotonic() - gone:.2f}s")
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for s in services.values():
            s.stop()
