"""This checkout against an earlier commit, on the hot paths, measured at the same moment.

Usage: python bench/compare.py --against REV [--seconds 5] [--rounds 3]

REV is checked out into a temporary git worktree. For each case, the server of
REV and the server of this checkout run side by side, both on core 0, each
with its own dnsperf on core 1, at the same moment (dnsperf.run_pair): the
kernel shares the core evenly, so new QPS / old QPS is the inverse ratio of
their costs per query, and the machine's other tenants slow both alike.
A ratio of 1.00 means "as fast"; the control case (this checkout against
itself) shows how far the method is from 1.00.

Cases:
  whoami             .:PORT { whoami }                       (make bench's server)
  cache hits         cache + etcd, 100 hot names of 1,000    (bench/cache.py's (a): the raw path)
  cache hits, observed  errors + prometheus + cache + etcd   (the raw path with reply observers)
  etcd misses        etcd alone                              (bench/cache.py's (b): the miss path)
  etcd SRV misses    etcd alone, SRV queries                 (the answer builder's SRV path)
  forward relay      forward . UPSTREAM                      (bench/forward.py's: the raw UDP relay, a fresh
                                                             socket per query; the upstream, bench/bare_twisted.py,
                                                             on dnsperf's core, shared by both servers)
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import dnsperf  # noqa: E402
from cache import ZONE, services  # noqa: E402
from whoami import QUERIES  # noqa: E402

from skydns.cli.devetcd import LocalEtcd  # noqa: E402
from skydns.msg import path  # noqa: E402


def twistd_cmd(corefile: str) -> list[str]:
    """Run a tree's server: twistd finds the tree's twisted/plugins through PYTHONPATH (old and new alike)."""
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile=",
            f"--logfile={corefile}.log", "skydns", "-c", corefile]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, help="the git revision to compare with (a commit, tag, branch)")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    old_root = os.path.join(tmp, "old")
    subprocess.run(["git", "-C", dnsperf.ROOT, "worktree", "add", "--detach", "--quiet", old_root, args.against],
                   check=True)
    etcd = LocalEtcd(os.path.join(tmp, "etcd")).start()
    up_port = dnsperf.free_port()
    upstream = dnsperf.start([sys.executable, os.path.join(dnsperf.HERE, "bare_twisted.py"), str(up_port)], up_port,
                             core=1, env=dict(os.environ, PYTHONPATH=dnsperf.ROOT))
    try:
        c = etcd.client()
        for name, addr in services():
            c.put(path.name_to_key(name + ".", "/skydns"), json.dumps({"host": addr}))
        c.close()
        hot = [f"{name} A" for name, _ in list(services())[::10]]
        etcd_body = f" etcd {{\n  endpoint {etcd.url}\n }}\n"
        cases = {
            "whoami": (".", " whoami\n", QUERIES, "example.org."),
            "cache hits": (ZONE, " cache\n" + etcd_body, hot, hot[0].split()[0]),
            "cache hits, observed": (ZONE, f" errors\n prometheus 127.0.0.1:MPORT\n cache\n{etcd_body}", hot,
                                     hot[0].split()[0]),
            "etcd misses": (ZONE, etcd_body, hot, hot[0].split()[0]),
            "etcd SRV misses": (ZONE, etcd_body, [q.replace(" A", " SRV") for q in hot], hot[0].split()[0]),
            "forward relay": (".", f" forward . 127.0.0.1:{up_port}\n", ["example.org A"], "example.org."),
        }
        trees = {"old": old_root, "new": dnsperf.ROOT}
        ratios: dict[str, list[float]] = {}
        control: list[float] = []
        for r in range(args.rounds):
            for name, (zone, body, queries, probe) in cases.items():
                servers = []
                for label in ("old", "new"):
                    port = dnsperf.free_port()
                    core = os.path.join(tmp, f"{name.replace(' ', '_').replace(',', '')}-{label}-{r}")
                    block = body.replace("MPORT", str(dnsperf.free_port()))
                    with open(core, "w") as f:
                        f.write(f"{zone}:{port} {{\n bind 127.0.0.1\n{block}}}\n")
                    env = dict(os.environ, PYTHONPATH=trees[label])
                    servers.append((twistd_cmd(core), port, env))
                old, new = dnsperf.run_pair(servers, queries, args.seconds, probe=probe)
                ratios.setdefault(name, []).append(new.qps / old.qps)
            # control: this checkout against itself, whoami
            servers = []
            for label in ("a", "b"):
                port = dnsperf.free_port()
                core = os.path.join(tmp, f"control-{label}-{r}")
                with open(core, "w") as f:
                    f.write(f".:{port} {{\n bind 127.0.0.1\n whoami\n}}\n")
                servers.append((twistd_cmd(core), port, dict(os.environ, PYTHONPATH=dnsperf.ROOT)))
            a, b = dnsperf.run_pair(servers, QUERIES, args.seconds)
            control.append(b.qps / a.qps)
    finally:
        dnsperf.stop(upstream)
        etcd.stop()
        subprocess.run(["git", "-C", dnsperf.ROOT, "worktree", "remove", "--force", old_root], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    rev = subprocess.run(["git", "-C", dnsperf.ROOT, "rev-parse", "--short", args.against], capture_output=True,
                         text=True).stdout.strip()
    head = subprocess.run(["git", "-C", dnsperf.ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    print(f"dnsperf {args.seconds:g}s x {args.rounds} rounds; this checkout ({head}) / {args.against} ({rev}), "
          "QPS at the same moment, both servers on core 0, dnsperf on core 1")
    for name, rs in ratios.items():
        print(f"{name:<22} new/old {statistics.median(rs):.3f}  (rounds {' '.join(f'{x:.2f}' for x in rs)})")
    print(f"{'control (new/new)':<22} {statistics.median(control):.3f}  (rounds {' '.join(f'{x:.2f}' for x in control)})")


if __name__ == "__main__":
    main()
