"""Cost of log and prometheus: QPS with each enabled next to without, in the same run.

Usage: python bench/observability.py [--seconds 10] [--rounds 3]

Cases (all twistd skydns, server on core 0, dnsperf on core 1):
  whoami                 .:PORT { whoami }
  prometheus + whoami    metrics counted for every query
  log + whoami           one line per query, written to a file by twistd --logfile
                         (twistd's default rotation: every 1 MB, every old file renamed each time)
  log + whoami (rotating 100 MB)  the same through --logger=skydns.logfile.observer
Goals: prometheus costs under 10%, log to a file under 30%.

Each cost is printed two ways, as the capacity lost: from QPS (the median over rounds
of each round's ratio to whoami alone, so a slow minute hits both sides of a ratio),
and from the server's CPU time per answered query (whoami's / the case's), which
another tenant taking the core moves less.
"""
import argparse
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnsperf  # noqa: E402
from whoami import QUERIES  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    env = dict(os.environ, PYTHONPATH=dnsperf.ROOT)
    cases = {}
    for name, body in (("whoami", "whoami"),
                       ("prometheus + whoami", f"prometheus 127.0.0.1:{dnsperf.free_port()}\n whoami"),
                       ("log + whoami", "log\n whoami")):
        port = dnsperf.free_port()
        core = os.path.join(tmp, name.replace(" ", "").replace("+", "_"))
        with open(core, "w") as f:
            f.write(f".:{port} {{\n bind 127.0.0.1\n {body}\n}}\n")
        logfile = core + ".log"
        cmd = [os.path.join(dnsperf.BIN, "twistd"), "-n", "--pidfile=", f"--logfile={logfile}", "skydns", "-c", core]
        cases[name] = (cmd, port, logfile, {})
    port = dnsperf.free_port()
    core = os.path.join(tmp, "log_observer")
    with open(core, "w") as f:
        f.write(f".:{port} {{\n bind 127.0.0.1\n log\n whoami\n}}\n")
    cmd = [os.path.join(dnsperf.BIN, "twistd"), "-n", "--pidfile=", "--logger=skydns.logfile.observer",
           "skydns", "-c", core]
    cases["log + whoami (rotating 100 MB)"] = (cmd, port, core + ".log", {"SKYDNS_LOGFILE": core + ".log"})
    results = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (cmd, port, logfile, extra) in cases.items():
            proc = dnsperf.start(cmd, port, core=0, env=dict(env, **extra))
            try:
                results[name].append(dnsperf.run(port, QUERIES, args.seconds, core=1, pid=proc.pid))
            finally:
                dnsperf.stop(proc)
                for f in os.listdir(tmp):
                    if f.startswith(os.path.basename(logfile)):
                        os.unlink(os.path.join(tmp, f))
    rows = {k: dnsperf.medians(v) for k, v in results.items()}
    print(f"dnsperf {args.seconds:g}s x {args.rounds} rounds, server on core 0, dnsperf on core 1")
    print(dnsperf.table(rows))
    base = results["whoami"]
    for name in ("prometheus + whoami", "log + whoami", "log + whoami (rotating 100 MB)"):
        qps = statistics.median(r.qps / b.qps for r, b in zip(results[name], base))
        cpu = statistics.median(b.cpu_us / r.cpu_us for r, b in zip(results[name], base))
        print(f"{name}: QPS {qps:.2f} of whoami alone (cost {100 * (1 - qps):.0f}%); "
              f"by CPU time per query {cpu:.2f} (cost {100 * (1 - cpu):.0f}%)")


if __name__ == "__main__":
    main()
