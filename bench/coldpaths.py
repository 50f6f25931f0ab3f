"""Cold paths: server CPU per query when every name is new (random-name floods), against a positive etcd miss.

Usage: python bench/coldpaths.py [--seconds 5] [--rounds 3] [--against REV]

Each case is a fresh server on core 0 with dnsperf on core 1; the server's CPU time (user +
system) per answered query is read from /proc while dnsperf runs. Names are random and
never repeat within a run (the "water torture" attack). Cases:

  etcd miss (anchor)     skydns.local { etcd }: existing names, no cache (the answer built each time)
  in-zone NXDOMAIN       skydns.local { cache; etcd }: random names in the zone
  forward, full cache    . { cache (a small one, full before the run); forward . UPSTREAM }: random
                         names outside, each inserted and an older one evicted
  forward expire, full cache  the same with forward's expire (one shared socket: the express lanes)
  REFUSED                skydns.local { etcd }: random names no block serves
  mixed flood            skydns.local { cache; etcd } and . { cache; forward }: half of each

The upstream is bench/bare_twisted.py --echo on dnsperf's core (an answer to any question).
Each server first takes a flood of the same kind (40,000 other names: the caches fill, memory
settles), then the measured run. Prints the CPU us per query of each and its ratio to the anchor
(goal: at most 1.5), and the server's RSS before and after the measured run (flat: no growth). With --against REV, every case also runs on REV's tree
(a git worktree) in the same rounds, and the ratio of CPU per query old/new is printed (goal for the
mixed flood: 2.5).
"""
import argparse
import json
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dnsperf  # noqa: E402
from cache import ZONE, services  # noqa: E402

from skydns.cli.devetcd import LocalEtcd  # noqa: E402
from skydns.msg import path  # noqa: E402


def random_names(n: int, suffix: str, rng: random.Random) -> list[str]:
    letters = string.ascii_lowercase + string.digits
    return [f"{''.join(rng.choices(letters, k=12))}.{suffix} A" for _ in range(n)]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def twistd_cmd(corefile: str) -> list[str]:
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=",
            f"--logfile={corefile}.log", "skydns", "-c", corefile]


def measure(tree: str, corefile_text: str, port: int, tmp: str, queries: list[str], seconds: float,
            probe: str, warm: list[str] | None = None) -> tuple[float, float, int, int]:
    """(CPU us per query, QPS, RSS KiB before, RSS KiB after) of one server of ``tree``."""
    conf = os.path.join(tmp, f"Corefile-{port}")
    with open(conf, "w") as f:
        f.write(corefile_text)
    env = dict(os.environ, PYTHONPATH=tree)
    proc = dnsperf.start(twistd_cmd(conf), port, core=0, env=env, probe=probe)
    try:
        if warm:
            dnsperf.run(port, warm, max(1.0, seconds / 2), core=1)
        before = rss_kib(proc.pid)
        r = dnsperf.run(port, queries, seconds, core=1, pid=proc.pid)
        return r.cpu_us or 0.0, r.qps, before, rss_kib(proc.pid)
    finally:
        dnsperf.stop(proc)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--against", help="also run every case on this git revision's tree")
    ap.add_argument("--only", nargs="*", help="cases to run besides the anchor (default: all)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="skydns-cold-")
    old_root = None
    if args.against:
        old_root = os.path.join(tmp, "old")
        subprocess.run(["git", "-C", dnsperf.ROOT, "worktree", "add", "--detach", "--quiet", old_root, args.against],
                       check=True)
    etcd = LocalEtcd(os.path.join(tmp, "etcd")).start()
    up_port = dnsperf.free_port()
    upstream = dnsperf.start([sys.executable, os.path.join(dnsperf.HERE, "bare_twisted.py"), str(up_port), "--echo"],
                             up_port, core=1, env=dict(os.environ, PYTHONPATH=dnsperf.ROOT))
    rng = random.Random(1)
    per_run = int(60_000 * args.seconds)  # more names than a run can ask: none repeats
    results: dict[str, list[tuple[float, float, int, int]]] = {}
    try:
        c = etcd.client()
        for name, addr in services():
            c.put(path.name_to_key(name + ".", "/skydns"), json.dumps({"host": addr}))
        c.close()
        etcd_body = f" etcd {{\n  endpoint {etcd.url}\n }}\n"
        existing = [f"{name} A" for name, _ in services()]
        probe = existing[0].split()[0]
        fwd = f" cache {{\n  max_memory 1M\n }}\n forward . 127.0.0.1:{up_port}\n"
        fwd_expire = f" cache {{\n  max_memory 1M\n }}\n forward . 127.0.0.1:{up_port} {{\n  expire 10s\n }}\n"
        for _round in range(args.rounds):
            inzone = random_names(per_run, ZONE, rng)
            outside = random_names(per_run, "example.net", rng)
            mixed = [q for pair in zip(inzone[: per_run // 2], outside[: per_run // 2], strict=True) for q in pair]
            # a flood of the same kind first, so the caches are full and memory has settled: the run's
            # RSS before and after then shows whether memory stays flat
            fill_in = random_names(40_000, ZONE, rng)
            fill_out = random_names(40_000, "example.net", rng)
            fill_mixed = [q for pair in zip(fill_in, fill_out, strict=True) for q in pair]
            cases = {
                "etcd miss (anchor)": (f"{ZONE}:PORT {{\n bind 127.0.0.1\n{etcd_body}}}\n", existing, probe, existing),
                "in-zone NXDOMAIN": (f"{ZONE}:PORT {{\n bind 127.0.0.1\n cache\n{etcd_body}}}\n", inzone, probe,
                                     fill_in),
                "forward, full cache": (f".:PORT {{\n bind 127.0.0.1\n{fwd}}}\n", outside, "example.org.", fill_out),
                "forward expire, full cache": (f".:PORT {{\n bind 127.0.0.1\n{fwd_expire}}}\n", outside,
                                               "example.org.", fill_out),
                "REFUSED": (f"{ZONE}:PORT {{\n bind 127.0.0.1\n{etcd_body}}}\n", outside, probe, fill_out),
            }
            mixed_conf = (f"{ZONE}:PORT {{\n bind 127.0.0.1\n cache\n{etcd_body}}}\n"
                          f".:PORT {{\n bind 127.0.0.1\n{fwd}}}\n")
            cases["mixed flood"] = (mixed_conf, mixed, probe, fill_mixed)
            if args.only:
                cases = {k: v for k, v in cases.items() if k == "etcd miss (anchor)" or k in args.only}
            trees = [("", dnsperf.ROOT)] + ([(", old", old_root)] if old_root else [])
            for name, (text, queries, pr, warm) in cases.items():
                for suffix, tree in trees:
                    port = dnsperf.free_port()
                    results.setdefault(name + suffix, []).append(
                        measure(tree, text.replace("PORT", str(port)), port, tmp, queries, args.seconds, pr, warm))
    finally:
        dnsperf.stop(upstream)
        etcd.stop()
        if old_root:
            subprocess.run(["git", "-C", dnsperf.ROOT, "worktree", "remove", "--force", old_root], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    med = {name: (statistics.median(x[0] for x in rs), statistics.median(x[1] for x in rs),
                  statistics.median(x[2] for x in rs), statistics.median(x[3] for x in rs))
           for name, rs in results.items()}
    anchor = med["etcd miss (anchor)"][0]
    print(f"dnsperf {args.seconds:g}s x {args.rounds} rounds, server on core 0, dnsperf and the upstream on core 1; "
          "CPU us per answered query (medians)")
    print(f"{'case':<22}{'CPU us/q':>10}{'QPS':>10}{'x anchor':>10}{'RSS MiB before':>16}{'after':>8}")
    for name, (cpu, qps, before, after) in med.items():
        print(f"{name:<22}{cpu:>10.1f}{qps:>10.0f}{cpu / anchor:>10.2f}{before / 1024:>16.1f}{after / 1024:>8.1f}")
    if old_root:
        for name in cases:
            print(f"{name}: CPU per query old / new = {med[name + ', old'][0] / med[name][0]:.2f} "
                  f"(against {args.against})")


if __name__ == "__main__":
    main()
