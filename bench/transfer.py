"""transfer: AXFR time of an etcd zone of 1,000 and 100,000 services, and what it costs the server in memory.

Usage: python bench/transfer.py [--sizes 1000 100000]

For each size: a local etcd gets that many services (an A record and SRV each, in transactions of 100
puts), `skydns -c Corefile` serves the zone with `transfer { to * }`, and dnspython transfers it twice
over TCP with kdig (dnspython where kdig is missing: its parsing then dominates the time); the first
also reads the zone into the transfer's journal, the second is a transfer alone.
Prints the records received, the seconds each took, and the server's resident memory before the first
transfer, after it (the journal: the zone's records, once), and at the end of the second (a transfer's
own cost: its messages are made as they are read).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dns.query  # noqa: E402
import dns.zone  # noqa: E402
import dnsperf  # noqa: E402

from skydns.cli.devetcd import LocalEtcd  # noqa: E402


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def load(client, count: int) -> None:
    batch = []
    for i in range(count):
        key = f"/skydns/local/skydns/svc/s{i}"
        value = json.dumps({"host": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "port": 8000 + i % 1000})
        batch.append(client.transactions.put(key, value))
        if len(batch) == 100:
            client.transaction(compare=[], success=batch, failure=[])
            batch = []
    if batch:
        client.transaction(compare=[], success=batch, failure=[])


def one(size: int, tmp: str) -> None:
    etcd = LocalEtcd(os.path.join(tmp, f"etcd{size}")).start()
    proc = None
    try:
        c = etcd.client()
        start = time.monotonic()
        load(c, size)
        loaded = time.monotonic() - start
        port = dnsperf.free_port()
        corefile = os.path.join(tmp, f"Corefile{size}")
        with open(corefile, "w") as f:
            f.write(f"skydns.local:{port} {{\n bind 127.0.0.1\n etcd {{\n  endpoint {etcd.url}\n }}\n"
                    " transfer {\n  to *\n }\n}\n")
        env = dict(os.environ, PYTHONPATH=dnsperf.ROOT)
        proc = dnsperf.start([os.path.join(dnsperf.BIN, "skydns"), "-c", corefile], port, core=0, env=env,
                             probe="s1.svc.skydns.local.")
        before = rss_mib(proc.pid)
        times, counts = [], []
        after_first = 0.0
        for attempt in range(2):
            t = time.monotonic()
            records = 0
            if shutil.which("kdig"):
                out = subprocess.run(["kdig", "@127.0.0.1", "-p", str(port), "skydns.local", "AXFR", "+noall",
                                      "+stats", "+timeout=600"], capture_output=True, text=True).stdout
                m = re.search(r"\((\d+) messages?, (\d+) records?\)", out)
                records = int(m.group(2)) if m else 0
            else:
                for msg in dns.query.xfr("127.0.0.1", "skydns.local.", port=port, timeout=600, lifetime=600):
                    records += sum(len(rrset) for rrset in msg.answer)
            times.append(time.monotonic() - t)
            counts.append(records)
            if attempt == 0:
                after_first = rss_mib(proc.pid)
        after_second = rss_mib(proc.pid)
        print(f"{size} services (etcd loaded in {loaded:.1f}s): {counts[0]} records; AXFR {times[0]:.2f}s "
              f"(first, reading the zone into the journal), {times[1]:.2f}s (second); RSS {before:.0f} MiB before, "
              f"{after_first:.0f} after the first, {after_second:.0f} after the second")
    finally:
        if proc is not None:
            dnsperf.stop(proc)
        etcd.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 100000])
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    for size in args.sizes:
        one(size, tmp)


if __name__ == "__main__":
    main()
