"""whoami through the full server path vs a bare Twisted DatagramProtocol, same run.

Usage: python bench/whoami.py [--seconds 10] [--rounds 3]

Prints QPS and latency percentiles (medians over interleaved rounds) for:
  skydns whoami          twistd skydns, Corefile '.:PORT { whoami }'
  skydns errors+whoami   the same behind the errors plugin
  bare twisted           bench/bare_twisted.py (pre-rendered reply, ID patched)
and the ratio of each skydns case to the bare figure (goal: >= 0.5). The table comes
from runs one after the other (each server alone on its core); the ratios come from
paired runs, each skydns case at the same moment as the bare server, both on core 0
(dnsperf.run_pair), which other tenants of the machine disturb far less.
"""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnsperf  # noqa: E402

QUERIES = ["example.org A", "www.example.org AAAA", "Mixed.Case.Example.Org A", "svc.example.org SRV"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--edns", action="store_true", help="send queries with an OPT record")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    cases = {}
    for name, body in (("skydns whoami", "whoami"), ("skydns errors+whoami", "errors\n whoami")):
        port = dnsperf.free_port()
        path = os.path.join(tmp, name.replace(" ", "_").replace("+", "_"))
        with open(path, "w") as f:
            f.write(f".:{port} {{\n bind 127.0.0.1\n {body}\n}}\n")
        cases[name] = ([os.path.join(dnsperf.BIN, "twistd"), "-n", "--pidfile=", "skydns", "-c", path], port)
    port = dnsperf.free_port()
    cases["bare twisted"] = ([sys.executable, os.path.join(dnsperf.HERE, "bare_twisted.py"), str(port)], port)
    env = dict(os.environ, PYTHONPATH=dnsperf.ROOT)
    results = {name: [] for name in cases}
    for _r in range(args.rounds):
        for name, (cmd, port) in cases.items():
            proc = dnsperf.start(cmd, port, core=0, env=env)
            try:
                results[name].append(dnsperf.run(port, QUERIES, args.seconds, core=1, edns=args.edns))
            finally:
                dnsperf.stop(proc)
    rows = {name: dnsperf.medians(rs) for name, rs in results.items()}
    print(f"dnsperf {args.seconds:g}s x {args.rounds} rounds, server on core 0, dnsperf on core 1"
          f"{', EDNS' if args.edns else ''}")
    print(dnsperf.table(rows))
    bare_cmd, bare_port = cases["bare twisted"]
    for name in ("skydns whoami", "skydns errors+whoami"):
        cmd, port = cases[name]
        ratios = []
        for _r in range(args.rounds):
            ra, rb = dnsperf.run_pair(((bare_cmd, bare_port, env), (cmd, port, env)), QUERIES, args.seconds,
                                      edns=args.edns)
            ratios.append(rb.qps / ra.qps)
        print(f"ratio {name} / bare twisted (alone, one after the other): {rows[name].qps / rows['bare twisted'].qps:.2f}; "
              f"paired: {statistics.median(ratios):.2f} (rounds {' '.join(f'{x:.2f}' for x in ratios)})")


if __name__ == "__main__":
    main()
