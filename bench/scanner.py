"""scanner: can one scanner probe 1,000 addresses every second without falling behind? Prints the probe rate
it achieves, how late probes start, and the scanner process's CPU.

Usage: python bench/scanner.py [--addresses 1000] [--interval 1] [--seconds 20]

A local etcd holds ADDRESSES services at 127.0.x.y, all served by one TCP listener on every loopback
address (this script, in a thread); a `skydns -c Corefile` process with `etcd { monitor }` and
`scanner { interval ... }` probes them (TCP connect) and is measured, after a warm-up, from its
/metrics (probes, lateness) and /proc (CPU). Runs on one core of the two (taskset), the listener and
etcd on the other.
"""
import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dnsperf  # noqa: E402

from skydns.cli.devetcd import LocalEtcd  # noqa: E402


def listener(port: int) -> None:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(4096)

    def accept():
        while True:
            c, _ = s.accept()
            c.close()

    threading.Thread(target=accept, daemon=True).start()


def metric(port: int, name: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addresses", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    etcd = LocalEtcd(os.path.join(tmp, "etcd")).start()
    proc = None
    try:
        c = etcd.client()
        svc_port = dnsperf.free_port()
        listener(svc_port)
        for i in range(args.addresses):
            ip = f"127.0.{10 + i // 250}.{1 + i % 250}"
            c.put(f"/skydns/local/skydns/db/x{i}", json.dumps({"host": ip, "port": svc_port}))
        dns_port, metrics_port = dnsperf.free_port(), dnsperf.free_port()
        corefile = os.path.join(tmp, "Corefile")
        with open(corefile, "w") as f:
            f.write(f"skydns.local:{dns_port} {{\n bind 127.0.0.1\n prometheus 127.0.0.1:{metrics_port}\n"
                    f" etcd {{\n  endpoint {etcd.url}\n  monitor /skydns/monitor/status\n }}\n"
                    f" scanner {{\n  interval {args.interval}s\n  timeout 1s\n  id bench\n }}\n}}\n")
        env = dict(os.environ, PYTHONPATH=dnsperf.ROOT)
        proc = dnsperf.start([os.path.join(dnsperf.BIN, "skydns"), "-c", corefile], dns_port, core=0, env=env,
                             probe="x1.db.skydns.local.")
        time.sleep(max(3 * args.interval, 3))  # warm up: every address owned, first probes spread out
        p0, cpu0, t0 = metric(metrics_port, "skydns_scanner_probes_total"), dnsperf.cpu_seconds(proc.pid), time.monotonic()
        late = []
        end = t0 + args.seconds
        while time.monotonic() < end:
            time.sleep(0.5)
            late.append(metric(metrics_port, "skydns_scanner_late_seconds"))
        p1, cpu1, t1 = metric(metrics_port, "skydns_scanner_probes_total"), dnsperf.cpu_seconds(proc.pid), time.monotonic()
        owned = metric(metrics_port, "skydns_scanner_addresses_owned")
        down = metric(metrics_port, "skydns_scanner_addresses_down")
        rate = (p1 - p0) / (t1 - t0)
        cpu = (cpu1 - cpu0) / (t1 - t0)
        late.sort()
        print(f"{args.addresses} addresses, interval {args.interval:g}s, measured {t1 - t0:.1f}s")
        print(f"addresses owned {owned:.0f}, down {down:.0f}")
        print(f"probe rate {rate:.0f}/s (wanted {args.addresses / args.interval:.0f}/s: "
              f"{rate / (args.addresses / args.interval):.3f} of it)")
        print(f"lateness of probe starts (sampled): median {late[len(late) // 2] * 1000:.1f} ms, "
              f"max {late[-1] * 1000:.1f} ms")
        print(f"scanner CPU {cpu * 100:.1f}% of one core, {cpu * 1e6 / max(rate, 1):.0f} us per probe")
    finally:
        if proc is not None:
            dnsperf.stop(proc)
        etcd.stop()


if __name__ == "__main__":
    main()
