"""dnssec: QPS of DO-bit queries with a warm signature cache next to the same queries without DO
(same run), and the cost of a cold signature per algorithm.

Usage: python bench/dnssec.py [--seconds 10] [--rounds 3]
Server: skydns.local with dnssec + etcd (100 services), no response cache, so every
DO answer is signed again from the signature cache. Goal: DO within 80% of without.
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import dns.rrset  # noqa: E402
import dnsperf  # noqa: E402

from helpers import write_key  # noqa: E402  (BIND-format keys made with cryptography)
from skydns.cli.devetcd import LocalEtcd  # noqa: E402
from skydns.msg import path  # noqa: E402
from skydns.plugin.dnssec import keys  # noqa: E402
from skydns.plugin.dnssec.signer import Signer  # noqa: E402


def cold_costs(tmp):
    print("cold signature (one A RRset, no cache), microseconds:")
    for alg in (8, 13, 15):
        key = keys.load(write_key(tmp, "skydns.local.", alg))
        signer = Signer("skydns.local.", [key], capacity=1)
        n = 200
        start = time.perf_counter()
        for i in range(n):
            rrset = dns.rrset.from_text(f"n{i}.skydns.local.", 60, "IN", "A", "10.0.0.1")
            signer.sign(rrset)
        print(f"  {keys.ALGORITHMS[alg]:<16} {(time.perf_counter() - start) / n * 1e6:8.0f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    cold_costs(tmp)
    etcd = LocalEtcd(os.path.join(tmp, "etcd")).start()
    c = etcd.client()
    queries = []
    for i in range(100):
        name = f"s{i}.skydns.local."
        c.put(path.name_to_key(name, "/skydns"), json.dumps({"host": f"10.0.{i // 250}.{i % 250 + 1}"}))
        queries.append(f"{name} A")
    c.close()
    key = write_key(tmp, "skydns.local.", 13)
    port = dnsperf.free_port()
    core = os.path.join(tmp, "Corefile")
    with open(core, "w") as f:
        f.write(f"skydns.local:{port} {{\n bind 127.0.0.1\n dnssec {{\n  key file {key}\n }}\n"
                f" etcd {{\n  endpoint {etcd.url}\n }}\n}}\n")
    env = dict(os.environ, PYTHONPATH=dnsperf.ROOT)
    cmd = [os.path.join(dnsperf.BIN, "twistd"), "-n", "--pidfile=", "skydns", "-c", core]
    results = {"without DO": [], "DO, warm signature cache": []}
    try:
        for _ in range(args.rounds):
            proc = dnsperf.start(cmd, port, core=0, env=env, probe="s1.skydns.local.")
            try:
                dnsperf.run(port, queries, 1, core=1, edns=True, dnssec=True)  # warm the signature cache
                results["without DO"].append(dnsperf.run(port, queries, args.seconds, core=1, edns=True))
                results["DO, warm signature cache"].append(
                    dnsperf.run(port, queries, args.seconds, core=1, edns=True, dnssec=True))
            finally:
                dnsperf.stop(proc)
    finally:
        etcd.stop()
    rows = {k: dnsperf.medians(v) for k, v in results.items()}
    print(f"dnsperf {args.seconds:g}s x {args.rounds} rounds (ECDSAP256SHA256, no response cache)")
    print(dnsperf.table(rows))
    print(f"ratio DO / without DO: {rows['DO, warm signature cache'].qps / rows['without DO'].qps:.2f}")


if __name__ == "__main__":
    main()
