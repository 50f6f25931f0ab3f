"""forward: QPS of skydns forwarding to a fast local upstream, next to the upstream's own QPS (same run).

Usage: python bench/forward.py [--seconds 10] [--rounds 3]

The upstream is bench/bare_twisted.py (a pre-rendered answer, ID patched). Cases:
  upstream alone     dnsperf (core 1) -> upstream (core 0)
  skydns forward     dnsperf (core 1) -> skydns (core 0) -> upstream (core 1), a new socket per query
  skydns forward, expire 10s   the same reusing UDP sockets (forward's expire)
Medians over interleaved rounds; prints QPS, p50/p99 and the ratios.
"""
import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnsperf  # noqa: E402

QUERIES = ["example.org A"]  # the upstream's one pre-rendered question


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    env = dict(os.environ, PYTHONPATH=dnsperf.ROOT)
    up_port, fw_port = dnsperf.free_port(), dnsperf.free_port()
    forwards = {}
    for name, opts in (("skydns forward", ""), ("skydns forward, expire 10s", " {\n  expire 10s\n }")):
        core = os.path.join(tmp, f"Corefile{len(forwards)}")
        with open(core, "w") as f:
            f.write(f".:{fw_port} {{\n bind 127.0.0.1\n forward . 127.0.0.1:{up_port}{opts}\n}}\n")
        forwards[name] = [os.path.join(dnsperf.BIN, "twistd"), "-n", "--pidfile=", "skydns", "-c", core]
    upstream_cmd = [sys.executable, os.path.join(dnsperf.HERE, "bare_twisted.py"), str(up_port)]
    results = {"upstream alone": [], **{name: [] for name in forwards}}
    for _ in range(args.rounds):
        up = dnsperf.start(upstream_cmd, up_port, core=0, env=env)
        try:
            results["upstream alone"].append(dnsperf.run(up_port, QUERIES, args.seconds, core=1))
        finally:
            dnsperf.stop(up)
        for name, skydns_cmd in forwards.items():
            up = dnsperf.start(upstream_cmd, up_port, core=1, env=env)
            fw = dnsperf.start(skydns_cmd, fw_port, core=0, env=env)
            try:
                results[name].append(dnsperf.run(fw_port, QUERIES, args.seconds, core=1))
            finally:
                dnsperf.stop(fw)
                dnsperf.stop(up)
    rows = {k: dnsperf.medians(v) for k, v in results.items()}
    print(f"dnsperf {args.seconds:g}s x {args.rounds} rounds")
    print(dnsperf.table(rows))
    for name in forwards:
        print(f"ratio {name} / upstream alone: {rows[name].qps / rows['upstream alone'].qps:.2f}")
    print(f"ratio expire 10s / new socket per query: "
          f"{rows['skydns forward, expire 10s'].qps / rows['skydns forward'].qps:.2f}")


if __name__ == "__main__":
    main()
