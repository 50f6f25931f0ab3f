"""skydns --workers N: N processes on one port, restarted when one dies, SIGHUP and SIGTERM to all."""
import os
import signal
import subprocess
import sys
import time

import dns.rcode

from test_service import free_port
from test_twistd import ask, env, wait_until_serving

BIN = os.path.dirname(sys.executable)


def children(pid: int) -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.add(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def listening(port: int) -> bool:
    return all(ask(port, f"n{i}.example.org.", timeout=2).rcode() == dns.rcode.NOERROR for i in range(30))


def test_workers_share_a_port_restart_and_reload(tmp_path):
    port = free_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(f"example.org:{port} {{\n workers 2\n whoami\n}}\n")
    proc = subprocess.Popen([os.path.join(BIN, "skydns"), "-c", str(corefile)], cwd=tmp_path, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until_serving(port, proc)
        deadline = time.monotonic() + 20
        while len(children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = children(proc.pid)
        assert len(workers) == 2
        time.sleep(2)  # both have bound the port
        assert listening(port)
        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while (victim in children(proc.pid) or len(children(proc.pid)) < 2) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(children(proc.pid)) == 2 and victim not in children(proc.pid)
        time.sleep(2)
        assert listening(port)
        corefile.write_text(f"example.org:{port} example.net:{port} {{\n workers 2\n whoami\n}}\n")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(ask(port, f"n{i}.example.net.").rcode() == dns.rcode.NOERROR for i in range(30)):
                break
            time.sleep(0.2)
        assert all(ask(port, f"n{i}.example.net.").rcode() == dns.rcode.NOERROR for i in range(30))
        left = children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert not any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"
                       for p in left)
    finally:
        if proc.poll() is None:
            proc.kill()
