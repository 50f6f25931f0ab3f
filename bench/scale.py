"""A large estate: the etcd copy's lookups and memory from 1,000 to 1,000,000 services, and etcd changes
absorbed while serving.

Usage: python bench/scale.py [--sizes 1000 100000 1000000] [--rates 100 500 1000 2000] [--seconds 5]

1. In-process (no sockets): the copy's index built with N services (s<i>.g<g>.r<r>.skydns.local,
   10 regions, groups of 10), then lookup + render of an exact name, a subdomain with 10
   answers and a wildcard with 10 answers (mean of 2,000 each), and the process's resident
   memory grown per service (RSS after the build minus before, over N; the index and the
   services only, as the running copy holds them).
2. Live: a server (cache + etcd, 10,000 services) under dnsperf at 20,000 queries a second
   (``-Q``) over 1,000 names, while a writer puts changes to other names of the zone at each
   rate given (puts a second, in transactions of 10); the answers' p99 at each rate.
"""
import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dnsperf  # noqa: E402
from etcd import build, names, time_queries  # noqa: E402

from skydns.cli.devetcd import LocalEtcd  # noqa: E402
from skydns.msg import path  # noqa: E402

QUERIES = [("s5.g7.r3.skydns.local.", "A"), ("g7.r3.skydns.local.", "A"), ("s5.g7.*.skydns.local.", "A")]
LABELS = ["exact (1 answer)", "subdomain (10)", "wildcard (10)"]


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def in_process(sizes: list[int]) -> None:
    rows = {}
    for count in sizes:
        gc.collect()
        before = rss_bytes()
        index = build(count)
        gc.collect()
        grown = rss_bytes() - before
        rows[count] = (time_queries(index, QUERIES), grown / count)
        del index
        gc.collect()
    print("lookup + render in-process, microseconds per query (mean of 2000); RSS grown per service")
    print(f"{'query':<22}" + "".join(f"{n:>12,}" for n in sizes) + f"{'last/first':>12}")
    for q, label in zip(QUERIES, LABELS, strict=True):
        first, last = rows[sizes[0]][0][q], rows[sizes[-1]][0][q]
        print(f"{label:<22}" + "".join(f"{rows[n][0][q]:>12.1f}" for n in sizes) + f"{last / first:>12.2f}")
    print(f"{'RSS bytes per service':<22}" + "".join(f"{rows[n][1]:>12.0f}" for n in sizes))


def writer(client, rate: float, stop: threading.Event, done: list) -> None:
    """Puts at ``rate`` a second (transactions of 10) to names nobody asks for, until ``stop``."""
    start = time.monotonic()
    n = 0
    while not stop.is_set():
        due = int((time.monotonic() - start) * rate)
        while n + 10 <= due:
            ops = [client.transactions.put(path.name_to_key(f"c{(n + k) % 5000}.changes.skydns.local.", "/skydns"),
                                           json.dumps({"host": f"10.200.{(n + k) // 250 % 250}.{(n + k) % 250 + 1}"}))
                   for k in range(10)]
            client.transaction(compare=[], success=ops, failure=[])
            n += 10
        time.sleep(0.002)
    done.append(n / (time.monotonic() - start))


def live(rates: list[float], seconds: float) -> None:
    tmp = tempfile.mkdtemp(prefix="skydns-scale-")
    etcd = LocalEtcd(os.path.join(tmp, "etcd")).start()
    client = etcd.client()
    queries = []
    batch = []
    for name, value in names(10_000):
        batch.append(client.transactions.put(path.name_to_key(name, "/skydns"), json.dumps(value)))
        if len(batch) == 100:
            client.transaction(compare=[], success=batch, failure=[])
            batch = []
        if len(queries) < 1000:
            queries.append(f"{name} A")
    port = dnsperf.free_port()
    conf = os.path.join(tmp, "Corefile")
    with open(conf, "w") as f:
        f.write(f"skydns.local:{port} {{\n bind 127.0.0.1\n cache\n etcd {{\n  endpoint {etcd.url}\n }}\n}}\n")
    proc = dnsperf.start([sys.executable, "-m", "twisted", "skydns", "-c", conf], port, core=0,
                         probe=queries[0].split()[0])
    rows = []
    try:
        dnsperf.run(port, queries, 1.0, core=1)  # warm: the names are in the cache
        for rate in [0.0] + rates:
            stop = threading.Event()
            done: list = []
            t = threading.Thread(target=writer, args=(client, rate, stop, done)) if rate else None
            if t:
                t.start()
            r = dnsperf.run(port, queries, seconds, core=1, qps_limit=20_000)
            stop.set()
            if t:
                t.join()
            rows.append((rate, done[0] if done else 0.0, r))
    finally:
        dnsperf.stop(proc)
        client.close()
        etcd.stop()
    print(f"cache + etcd (10,000 services), dnsperf -Q 20000 for {seconds:g}s, changes to other names meanwhile")
    print(f"{'changes/s asked':>16}{'done':>8}{'QPS':>9}{'p50 ms':>9}{'p99 ms':>9}{'lost':>7}")
    for rate, done_rate, r in rows:
        print(f"{rate:>16.0f}{done_rate:>8.0f}{r.qps:>9.0f}{r.p50_ms:>9.3f}{r.p99_ms:>9.3f}{r.lost:>7}")
    ok = [done_rate for rate, done_rate, r in rows if r.p99_ms < 5 and r.qps > 19_000]
    print(f"most changes a second applied with 20,000 q/s answered at p99 under 5 ms: {max(ok):.0f}" if ok else
          "no rate kept p99 under 5 ms at 20,000 q/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[1000, 100_000, 1_000_000])
    ap.add_argument("--rates", type=float, nargs="*", default=[100, 500, 1000, 2000])
    ap.add_argument("--seconds", type=float, default=5)
    args = ap.parse_args()
    if args.sizes:
        in_process(args.sizes)
    if args.rates:
        live(args.rates, args.seconds)


if __name__ == "__main__":
    main()
