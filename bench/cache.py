"""The cache and the miss path next to Python's limit, Python's peer and a native server, in one run.

Usage: python bench/cache.py [--seconds 10] [--rounds 3]

Cases, each serving the same 1,000 names (s<i>.g<g>.r<r>.skydns.local, A records)
and queried for a hot set of 100 of them (server on core 0, dnsperf on core 1):
  (a) skydns cache+etcd     cache in front of etcd: cache hits
  (b) skydns etcd           no cache: the miss path
  (c) bare twisted          bench/bare_twisted.py, a pre-rendered reply (the Python limit)
  (d) twisted names         twistd dns --bindzone (Twisted Names' authoritative server)
  (e) nsd                   NSD (Debian package nsd) from the same zone file, if installed
Every case with and without EDNS in the queries. Prints QPS, p50, p99 (medians of
interleaved rounds) and the ratios a/c, a/e, b/d. Goals: a/c >= 0.8, b/d >= 1.0.

--workers: instead, (b) with one worker pinned to core 0 next to (b) with two workers
(skydns --workers 2, not pinned), both against dnsperf on core 1, and their ratio
(goal 1.7 where the load generator allows: on a 2-core machine it does not).
--observed: instead, (a) paired with (a) itself (a control), with errors + prometheus
in front of the cache, and with errors + prometheus + log (to a file): each pair at the
same moment, both servers on core 0 (dnsperf.run_pair). The raw path answers hits
behind errors and hands log and prometheus a copy of the first request.
Note (c) answers every query with one fixed name: dnsperf counts it anyway.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dnsperf  # noqa: E402

from skydns.cli.devetcd import LocalEtcd  # noqa: E402
from skydns.msg import path  # noqa: E402

ZONE = "skydns.local"


def services():
    for r in range(10):
        for g in range(10):
            for s in range(10):
                yield f"s{s}.g{g}.r{r}.{ZONE}", f"10.{r}.{g}.{s + 1}"


def zone_file(dest: str) -> None:
    with open(dest, "w") as f:
        f.write(f"$ORIGIN {ZONE}.\n$TTL 3600\n@ IN SOA ns.dns.{ZONE}. hostmaster.{ZONE}. 1 28800 7200 604800 30\n")
        f.write(f"@ IN NS ns.dns.{ZONE}.\nns.dns IN A 127.0.0.1\n")
        for name, addr in services():
            f.write(f"{name}. IN A {addr}\n")


def nsd_case(tmp, zonefile, port):
    if not shutil.which("nsd"):
        return None
    conf = os.path.join(tmp, "nsd.conf")
    with open(conf, "w") as f:
        f.write(f"server:\n  ip-address: 127.0.0.1@{port}\n  username: \"\"\n  chroot: \"\"\n"
                f"  zonesdir: \"{tmp}\"\n  pidfile: \"{tmp}/nsd.pid\"\n  database: \"\"\n"
                f"  xfrdfile: \"{tmp}/xfrd.state\"\n  zonelistfile: \"{tmp}/zone.list\"\n"
                f"  server-count: 1\n  rrl-ratelimit: 0\n  logfile: \"{tmp}/nsd.log\"\nremote-control:\n  control-enable: no\n"
                f"zone:\n  name: {ZONE}\n  zonefile: {zonefile}\n")
    return ["nsd", "-d", "-c", conf]


def observed(tmp, etcd, hot, plain, env, args):
    """Cache hits with observers and errors in front, each paired with plain cache hits."""
    variants = {"(a) again (control)": "cache",
                "errors + prometheus + cache": f"errors\n prometheus 127.0.0.1:{dnsperf.free_port()}\n cache",
                "errors + prometheus + log + cache": f"errors\n prometheus 127.0.0.1:{dnsperf.free_port()}\n log\n cache"}
    cmd_a, port_a, _ = plain
    ratios = {name: [] for name in variants}
    for _ in range(args.rounds):
        for i, (name, body) in enumerate(variants.items()):
            port = dnsperf.free_port()
            core = os.path.join(tmp, f"observed{i}")
            with open(core, "w") as f:
                f.write(f"{ZONE}:{port} {{\n bind 127.0.0.1\n {body}\n etcd {{\n  endpoint {etcd.url}\n }}\n}}\n")
            cmd = [os.path.join(dnsperf.BIN, "twistd"), "-n", "--pidfile=", f"--logfile={core}.log",
                   "skydns", "-c", core]
            try:
                ratios[name].append(dnsperf.run_pair(((cmd_a, port_a, env), (cmd, port, env)), hot, args.seconds,
                                                     probe=hot[0].split()[0]))
            finally:
                os.unlink(core + ".log")
    print(f"dnsperf {args.seconds:g}s x {args.rounds} rounds, 100 hot names; each variant at the same moment "
          "as (a) cache+etcd, both on core 0, dnsperf on core 1")
    for name, pairs in ratios.items():
        r = [b.qps / a.qps for a, b in pairs]
        print(f"{name}: {statistics.median([b.qps for _, b in pairs]):.0f} qps vs (a) "
              f"{statistics.median([a.qps for a, _ in pairs]):.0f}: ratio {statistics.median(r):.3f} "
              f"(rounds {' '.join(f'{x:.2f}' for x in r)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", action="store_true", help="measure two workers against one instead")
    ap.add_argument("--observed", action="store_true", help="measure cache hits with errors, prometheus, log")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    env = dict(os.environ, PYTHONPATH=dnsperf.ROOT)
    etcd = LocalEtcd(os.path.join(tmp, "etcd")).start()
    c = etcd.client()
    for name, addr in services():
        c.put(path.name_to_key(name + ".", "/skydns"), json.dumps({"host": addr}))
    c.close()
    zonefile = os.path.join(tmp, "skydns.local.zone")
    zone_file(zonefile)
    hot = [f"{name} A" for name, _ in list(services())[::10]]
    cases = {}
    for label, body in (("(a) skydns cache+etcd", "cache"), ("(b) skydns etcd", "")):
        port = dnsperf.free_port()
        core = os.path.join(tmp, label[1])
        with open(core, "w") as f:
            f.write(f"{ZONE}:{port} {{\n bind 127.0.0.1\n {body}\n etcd {{\n  endpoint {etcd.url}\n }}\n}}\n")
        cases[label] = ([os.path.join(dnsperf.BIN, "twistd"), "-n", "--pidfile=", "skydns", "-c", core], port, hot)
    if args.observed:
        try:
            observed(tmp, etcd, hot, cases["(a) skydns cache+etcd"], env, args)
        finally:
            etcd.stop()
        return
    if args.workers:
        port = dnsperf.free_port()
        core = os.path.join(tmp, "w2")
        with open(core, "w") as f:
            f.write(f"{ZONE}:{port} {{\n bind 127.0.0.1\n etcd {{\n  endpoint {etcd.url}\n }}\n}}\n")
        two = ([os.path.join(dnsperf.BIN, "skydns"), "-c", core, "--workers", "2"], port, hot)
        results = {"(b) 1 worker, core 0": [], "(b) 2 workers": []}
        try:
            for _ in range(args.rounds):
                cmd, p1, q = cases["(b) skydns etcd"]
                proc = dnsperf.start(cmd, p1, core=0, env=env, probe=q[0].split()[0])
                try:
                    results["(b) 1 worker, core 0"].append(dnsperf.run(p1, q, args.seconds, core=1))
                finally:
                    dnsperf.stop(proc)
                proc = dnsperf.start(two[0], port, core=None, env=env, probe=hot[0].split()[0])
                try:
                    time.sleep(2)  # both workers listening
                    results["(b) 2 workers"].append(dnsperf.run(port, hot, args.seconds, core=1))
                finally:
                    dnsperf.stop(proc)
        finally:
            etcd.stop()
        rows = {k: dnsperf.medians(v) for k, v in results.items()}
        print(f"dnsperf {args.seconds:g}s x {args.rounds} rounds, dnsperf on core 1, {os.cpu_count()} cores")
        print(dnsperf.table(rows))
        print(f"ratio 2 workers / 1 worker: {rows['(b) 2 workers'].qps / rows['(b) 1 worker, core 0'].qps:.2f}")
        return
    port = dnsperf.free_port()
    cases["(c) bare twisted"] = ([sys.executable, os.path.join(dnsperf.HERE, "bare_twisted.py"), str(port)],
                                 port, ["example.org A"])
    port = dnsperf.free_port()
    cases["(d) twisted names"] = ([os.path.join(dnsperf.BIN, "twistd"), "-n", "--pidfile=", "dns", "--bindzone",
                                   zonefile, "-p", str(port), "-i", "127.0.0.1"], port, hot)
    port = dnsperf.free_port()
    nsd = nsd_case(tmp, zonefile, port)
    if nsd:
        cases["(e) nsd"] = (nsd, port, hot)
    rows = {}
    try:
        for edns in (False, True):
            results = {k: [] for k in cases}
            for _ in range(args.rounds):
                for label, (cmd, port, queries) in cases.items():
                    proc = dnsperf.start(cmd, port, core=0, env=env, probe=queries[0].split()[0])
                    try:
                        results[label].append(dnsperf.run(port, queries, args.seconds, core=1, edns=edns))
                    finally:
                        dnsperf.stop(proc)
            for k, v in results.items():
                rows[f"{k}{' EDNS' if edns else ''}"] = dnsperf.medians(v)
    finally:
        etcd.stop()
    print(f"dnsperf {args.seconds:g}s x {args.rounds} rounds, server on core 0, dnsperf on core 1")
    print(dnsperf.table(rows))
    for suffix in ("", " EDNS"):
        r = {k[:3]: v.qps for k, v in rows.items() if k.endswith(suffix) and (suffix or "EDNS" not in k)}
        line = f"ratios{suffix or ' (no EDNS)'}: a/c {r['(a)'] / r['(c)']:.2f}, b/d {r['(b)'] / r['(d)']:.2f}"
        if "(e)" in r:
            line += f", a/e {r['(a)'] / r['(e)']:.2f}"
        print(line)


if __name__ == "__main__":
    main()
