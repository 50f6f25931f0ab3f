"""skydns --workers N: N processes on one port, restarted when one dies, SIGHUP and SIGTERM to all."""
import os
import signal
import subprocess
import time

import dns.rcode
import pytest

from helpers import BIN, ask, blast_udp, bound_udp, children, env, eventually, free_port, wait_until_serving

# skydns --workers as child processes
pytestmark = pytest.mark.integration


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
        assert eventually(lambda: len(children(proc.pid)) == 2, timeout=20, interval=0.1)
        workers = children(proc.pid)
        assert eventually(lambda: all(bound_udp(w, port) for w in workers), timeout=20)
        assert listening(port)
        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        assert eventually(lambda: victim not in children(proc.pid) and len(children(proc.pid)) == 2, timeout=20,
                          interval=0.1)
        workers = children(proc.pid)
        assert eventually(lambda: all(bound_udp(w, port) for w in workers), timeout=20)
        assert listening(port)
        corefile.write_text(f"example.org:{port} example.net:{port} {{\n workers 2\n whoami\n}}\n")
        proc.send_signal(signal.SIGHUP)
        # every worker has the new configuration: 30 queries (spread over both) all answered
        assert eventually(lambda: all(ask(port, f"n{i}.example.net.").rcode() == dns.rcode.NOERROR
                                      for i in range(30)), timeout=10, interval=0.2)
        left = children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert not any(os.path.exists(f"/proc/{p}") and open(f"/proc/{p}/stat").read().split()[2] != "Z"
                       for p in left)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_restarted_worker_gives_no_servfail(tmp_path, data):
    """A worker killed under 3,000 queries a second is restarted; while its replacement reads etcd, the
    queries the kernel hands it wait for the read: no SERVFAIL (only what sat in the dead worker's socket
    can be lost)."""
    for i in range(20):
        data.put(f"s{i}.svc.skydns.local", {"host": f"10.0.0.{i + 1}"})
    port = free_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(data.block().replace("skydns.local:0", f"skydns.local:{port}")
                        .replace(" etcd {", " workers 2\n cache\n etcd {"))
    proc = subprocess.Popen([os.path.join(BIN, "skydns"), "-c", str(corefile)], cwd=tmp_path, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert eventually(lambda: len(children(proc.pid)) == 2, timeout=20)
        workers = children(proc.pid)
        assert eventually(lambda: all(bound_udp(w, port) for w in workers), timeout=20)
        victim = sorted(workers)[0]
        names = [f"s{i}.svc.skydns.local." for i in range(20)]
        killed: list[float] = []
        serving: list[float] = []

        def kill_then_wait():
            """Kill the victim after half a second; stop one second after its replacement bound the port."""
            now = time.monotonic()
            if not killed:
                if now - started > 0.5:
                    os.kill(victim, signal.SIGKILL)
                    killed.append(now)
                return False
            if not serving:
                fresh = children(proc.pid) - workers
                if fresh and all(bound_udp(w, port) for w in fresh):
                    serving.append(now)
                return False
            return now - serving[0] > 1.0

        started = time.monotonic()
        counts = blast_udp(port, names, rate=3000, seconds=15, until=kill_then_wait)
        assert killed and serving
        assert counts[dns.rcode.SERVFAIL] == 0, counts
        assert counts["lost"] < counts["sent"] * 0.02, counts
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)


def test_workers_share_the_cookie_secret(tmp_path):
    """Every worker makes and accepts the same server cookies (the supervisor hands them one secret
    through a pipe): a cookie one worker made is valid at all of them, so it comes back unchanged."""
    import dns.edns
    import dns.message
    import dns.query

    port = free_port()
    corefile = tmp_path / "Corefile"
    corefile.write_text(f"example.org:{port} {{\n workers 2\n cookie\n whoami\n}}\n")
    proc = subprocess.Popen([os.path.join(BIN, "skydns"), "-c", str(corefile)], cwd=tmp_path, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def cookie_for(cookie: bytes) -> bytes:
        q = dns.message.make_query("w.example.org.", "A", use_edns=0,
                                   options=[dns.edns.GenericOption(dns.edns.OptionType.COOKIE, cookie)])
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)  # a new source port each time
        return [o.to_wire() for o in r.options if o.otype == dns.edns.OptionType.COOKIE][0]

    try:
        wait_until_serving(port, proc)
        assert eventually(lambda: len(children(proc.pid)) == 2, timeout=20, interval=0.1)
        workers = children(proc.pid)
        assert eventually(lambda: all(bound_udp(w, port) for w in workers), timeout=20)
        first = cookie_for(b"12345678")
        assert all(cookie_for(first) == first for _ in range(40))  # the kernel spreads them over both
    finally:
        proc.terminate()
        proc.wait(15)
