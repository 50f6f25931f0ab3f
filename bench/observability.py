"""Cost of log and prometheus: each next to whoami alone, measured at the same time.

Usage: python bench/observability.py [--seconds 5] [--rounds 4]

Cases (all twistd skydns):
  whoami                 .:PORT { whoami }
  prometheus + whoami    metrics counted for every query
  log + whoami           one line per query, written to a file by twistd --logfile
                         (twistd's default rotation: every 1 MB, every old file renamed each time)
  log + whoami (rotating 100 MB)  the same through --logger=skydns.cli.logfile.observer
Goals: prometheus costs under 10%, log to a file under 30%.

Each case runs paired with a whoami server: both servers on core 0, each with its
own dnsperf on core 1, at the same moment (see dnsperf.run_pair). The kernel shares
the core evenly, so case QPS / whoami QPS is the capacity the case keeps, and the
machine's other tenants slow both sides alike. A whoami/whoami pair shows how far
the method itself is from 1.00. The cost is also printed from the servers' CPU
time per answered query (whoami's / the case's).
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
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    env = dict(os.environ, PYTHONPATH=dnsperf.ROOT)

    def server(name, body, logger=None):
        """A twistd command for ``body`` on a free port: (cmd, port, log file, extra env)."""
        port = dnsperf.free_port()
        core = os.path.join(tmp, name)
        with open(core, "w") as f:
            f.write(f".:{port} {{\n bind 127.0.0.1\n {body}\n}}\n")
        logfile = core + ".log"
        if logger:
            opts, extra = [f"--logger={logger}"], {"SKYDNS_LOGFILE": logfile}
        else:
            opts, extra = [f"--logfile={logfile}"], {}
        cmd = [os.path.join(dnsperf.BIN, "twistd"), "-n", "--pidfile="] + opts + ["skydns", "-c", core]
        return cmd, port, logfile, extra

    cases = {
        "whoami (control)": ("control", "whoami", None),
        "prometheus + whoami": ("prometheus", f"prometheus 127.0.0.1:{dnsperf.free_port()}\n whoami", None),
        "log + whoami": ("log", "log\n whoami", None),
        "log + whoami (rotating 100 MB)": ("log_observer", "log\n whoami", "skydns.cli.logfile.observer"),
    }
    pairs = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, (key, body, logger) in cases.items():
            base_cmd, base_port, base_log, _ = server("whoami", "whoami")
            cmd, port, logfile, extra = server(key, body, logger)
            try:
                pairs[name].append(dnsperf.run_pair(((base_cmd, base_port, env), (cmd, port, dict(env, **extra))),
                                                    QUERIES, args.seconds))
            finally:
                for f in os.listdir(tmp):
                    if ".log" in f:
                        os.unlink(os.path.join(tmp, f))
    print(f"dnsperf {args.seconds:g}s x {args.rounds} rounds; each case at the same time as a whoami server, "
          "both servers on core 0, dnsperf on core 1")
    rows = {}
    for name, runs in pairs.items():
        rows[f"{name}: whoami"] = dnsperf.medians([b for b, _ in runs])
        rows[f"{name}: case"] = dnsperf.medians([c for _, c in runs])
    print(dnsperf.table(rows))
    for name, runs in pairs.items():
        qps = [c.qps / b.qps for b, c in runs]
        cpu = [b.cpu_us / c.cpu_us for b, c in runs]
        print(f"{name}: QPS {statistics.median(qps):.3f} of whoami's (cost {100 * (1 - statistics.median(qps)):.0f}%; "
              f"rounds {' '.join(f'{r:.2f}' for r in qps)}); "
              f"by CPU time per query {statistics.median(cpu):.3f} (cost {100 * (1 - statistics.median(cpu)):.0f}%)")


if __name__ == "__main__":
    main()
