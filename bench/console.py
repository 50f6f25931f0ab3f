"""The console with a large estate: how long each of its views takes with 100,000 services.

Usage: python bench/console.py [--count 100000] [--repeat 20]

A real etcd gets COUNT services in two shapes (a tree: s<i>.g<g>.r<r>.tree.skydns.local, 10 regions,
groups of 10; and flat: COUNT names directly under flat.skydns.local), a status key DOWN for one
address in a hundred, then a server with ``api { console }`` starts on them. Each view the page
asks for is timed over HTTP, as the browser asks for it (a session cookie, one connection per
request), with nothing else running: the median and the slowest of ``--repeat`` requests, in ms,
and the first request apart (what a cache fills). A view the page shows while one types (search,
the health filter) must stay under 100 ms to feel immediate.

Then what the console costs DNS: two servers side by side (dnsperf.run_pair), ``cache`` + ``etcd``
on 1,000 of those names, one with ``api { console }`` (its traffic observer counts every reply) and
one without; the ratio of their QPS is the inverse ratio of their costs per query. Twice: alone,
and with ``prometheus`` in both (which already makes the fast path hand each reply to observers).
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dnsperf  # noqa: E402

from skydns.cli.devetcd import LocalEtcd  # noqa: E402
from skydns.msg import path  # noqa: E402

TOKEN = "bench-console-token-0123"


def load(client, count: int) -> None:
    batch = []

    def put(name, value):
        batch.append(client.transactions.put(path.name_to_key(name, "/skydns"), json.dumps(value)))
        if len(batch) == 100:
            client.transaction(compare=[], success=batch, failure=[])
            batch.clear()

    groups = count // 100
    for i in range(count):
        r, g, s = i // (groups * 10), i // 10 % groups, i % 10
        put(f"s{s}.g{g}.r{r}.tree.skydns.local.", {"host": f"10.{r}.{g % 256}.{s + 1}", "port": 8080})
        put(f"n{i:06d}.flat.skydns.local.", {"host": f"10.{100 + i // 65536}.{i // 256 % 256}.{i % 256}"})
    if batch:
        client.transaction(compare=[], success=batch, failure=[])
    statuses = [client.transactions.put(f"/skydns-monitor/10.{100 + i // 65536}.{i // 256 % 256}.{i % 256}",
                                        json.dumps({"status": "DOWN", "since": int(time.time()), "by": "bench"}))
                for i in range(0, count, 100)]
    for k in range(0, len(statuses), 100):
        client.transaction(compare=[], success=statuses[k:k + 100], failure=[])


def get(port: int, cookie: str, view: str, **params) -> float:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t = time.perf_counter()
    c.request("GET", f"/skydns/console/data/{view}?" + urllib.parse.urlencode(params), headers={"Cookie": cookie})
    r = c.getresponse()
    body = r.read()
    took = (time.perf_counter() - t) * 1000
    c.close()
    if r.status != 200:
        raise SystemExit(f"{view} {params}: {r.status} {body[:200]!r}")
    return took


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=5, help="each paired dnsperf run")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="skydns-console-")
    etcd = LocalEtcd(os.path.join(tmp, "etcd")).start()
    client = etcd.client()
    t = time.monotonic()
    load(client, args.count)
    print(f"{2 * args.count:,} services loaded in {time.monotonic() - t:.1f} s "
          f"({args.count:,} in a tree, {args.count:,} under one name; {args.count // 100:,} addresses DOWN)")
    dns_port, http_port = dnsperf.free_port(), dnsperf.free_port()
    conf = os.path.join(tmp, "Corefile")
    with open(conf, "w") as f:
        f.write(f"skydns.local:{dns_port} {{\n bind 127.0.0.1\n api 127.0.0.1:{http_port} {{\n  console\n"
                f"  token viewer {TOKEN} read\n }}\n etcd {{\n  endpoint {etcd.url}\n  monitor /skydns-monitor\n }}\n}}\n")
    proc = dnsperf.start([sys.executable, "-m", "twisted", "skydns", "-c", conf], dns_port, core=0,
                         probe="s1.g1.r1.tree.skydns.local.")
    try:
        c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=60)
        c.request("POST", "/skydns/console/login", body=urllib.parse.urlencode({"token": TOKEN}),
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        r.read()
        cookie = r.getheader("set-cookie").split(";")[0]
        cases = [
            ("zones", "zones", {}),
            ("children of the zone", "children", {"name": "skydns.local."}),
            ("children of a region (1,000)", "children", {"name": "r3.tree.skydns.local."}),
            (f"children of flat ({args.count:,}), page 500", "children",
             {"name": "flat.skydns.local.", "offset": args.count // 2}),
            ("search 's5.g7' (all names)", "search", {"q": "s5.g7"}),
            ("search 'n0999' (all names)", "search", {"q": "n0999"}),
            ("health, first page", "health", {}),
            ("health, only DOWN", "health", {"down": "1"}),
            ("health, filter '10.101.'", "health", {"q": "10.101."}),
            ("a name (answers, records, history)", "name", {"name": "s5.g7.r3.tree.skydns.local."}),
            ("instance", "instance", {}),
        ]
        print(f"\nconsole views with {2 * args.count:,} services: ms per request over HTTP "
              f"(first, then median and slowest of {args.repeat})")
        print(f"{'view':<44}{'first':>9}{'median':>9}{'max':>9}")
        for label, view, params in cases:
            first = get(http_port, cookie, view, **params)
            times = [get(http_port, cookie, view, **params) for _ in range(args.repeat)]
            print(f"{label:<44}{first:>9.1f}{statistics.median(times):>9.1f}{max(times):>9.1f}")
    finally:
        dnsperf.stop(proc)
    try:
        dns_cost(etcd.url, tmp, args.seconds, args.rounds)
    finally:
        client.close()
        etcd.stop()


def dns_cost(etcd_url: str, tmp: str, seconds: float, rounds: int) -> None:
    queries = [f"s{i % 10}.g{i // 10 % 100}.r{i // 1000 % 10}.tree.skydns.local. A" for i in range(1000)]

    def server(console: bool, prometheus: bool):
        port = dnsperf.free_port()
        extra = (f" api 127.0.0.1:{dnsperf.free_port()} {{\n  console\n  token viewer {TOKEN} read\n }}\n"
                 if console else "")
        extra += f" prometheus 127.0.0.1:{dnsperf.free_port()}\n" if prometheus else ""
        conf = os.path.join(tmp, f"Corefile-{port}")
        with open(conf, "w") as f:
            f.write(f"skydns.local:{port} {{\n bind 127.0.0.1\n cache\n{extra} etcd {{\n  endpoint {etcd_url}\n }}\n}}\n")
        return [sys.executable, "-m", "twisted", "skydns", "-c", conf], port, None

    print(f"\nwhat the console costs DNS: cache hits, QPS at the same moment ({rounds} rounds of {seconds:g} s)")
    for label, prometheus in (("alone", False), ("beside prometheus", True)):
        ratios = []
        for _ in range(rounds):
            with_console, without = dnsperf.run_pair([server(True, prometheus), server(False, prometheus)], queries,
                                                     seconds, probe="s1.g1.r1.tree.skydns.local.")
            ratios.append(with_console.qps / without.qps)
        print(f"  console {label:<18} with / without: {statistics.median(ratios):.3f} "
              f"(rounds: {', '.join(f'{r:.3f}' for r in ratios)})")


if __name__ == "__main__":
    main()
