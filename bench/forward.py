"""forward: server CPU per forwarded query of skydns next to dnsdist's, same upstream, same queries, same run.

Usage: python bench/forward.py [--seconds 10] [--rounds 3] [--no-dnsdist]

The upstream is bench/bare_twisted.py (a pre-rendered answer, ID patched). Cases:
  upstream alone               dnsperf (core 1) -> upstream (core 0)
  dnsdist                      dnsperf (core 1) -> dnsdist (core 0) -> upstream (core 1); Debian's
                               dnsdist, no packet cache: the reference proxy
  skydns forward               the same through skydns's forward, a new UDP socket per query (default)
  skydns forward, expire 10s   the same reusing one UDP socket per upstream (forward's expire)
  ..., expire 10s, prometheus  the same with prometheus counting every reply (a Request per query)
Each proxy's CPU time (user + system, every thread) per answered query is read from /proc while
dnsperf runs: unlike QPS it hardly depends on the upstream sharing dnsperf's core. Medians over
interleaved rounds; prints QPS, p50/p99, CPU us per query, and the ratios to dnsdist.
"""
import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnsperf  # noqa: E402

QUERIES = ["example.org A"]  # the upstream's one pre-rendered question
EXPIRE = "skydns forward, expire 10s"


def dnsdist_conf(path: str, port: int, upstream: int) -> list[str]:
    with open(path, "w") as f:
        f.write(f'setLocal("127.0.0.1:{port}")\n'
                f'newServer({{address="127.0.0.1:{upstream}", checkName="example.org.", checkType="A"}})\n'
                'setSecurityPollSuffix("")\n')
    return ["dnsdist", "--supervised", "--disable-syslog", "-C", path]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-dnsdist", action="store_true", help="leave dnsdist out (where it is not installed)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    env = dict(os.environ, PYTHONPATH=dnsperf.ROOT)
    up_port, fw_port = dnsperf.free_port(), dnsperf.free_port()
    proxies = {}
    if not args.no_dnsdist:
        dnsperf.require("dnsdist")
        proxies["dnsdist"] = dnsdist_conf(os.path.join(tmp, "dnsdist.conf"), fw_port, up_port)
    watched = f" prometheus 127.0.0.1:{dnsperf.free_port()}\n"
    for name, front, opts in (("skydns forward", "", ""), (EXPIRE, "", " {\n  expire 10s\n }"),
                              (EXPIRE + ", prometheus", watched, " {\n  expire 10s\n }")):
        core = os.path.join(tmp, f"Corefile{len(proxies)}")
        with open(core, "w") as f:
            f.write(f".:{fw_port} {{\n bind 127.0.0.1\n{front} forward . 127.0.0.1:{up_port}{opts}\n}}\n")
        proxies[name] = [os.path.join(dnsperf.BIN, "twistd"), "-n", "--pidfile=", "skydns", "-c", core]
    upstream_cmd = [sys.executable, os.path.join(dnsperf.HERE, "bare_twisted.py"), str(up_port)]
    results = {"upstream alone": [], **{name: [] for name in proxies}}
    for _ in range(args.rounds):
        up = dnsperf.start(upstream_cmd, up_port, core=0, env=env)
        try:
            results["upstream alone"].append(dnsperf.run(up_port, QUERIES, args.seconds, core=1, pid=up.pid))
        finally:
            dnsperf.stop(up)
        for name, cmd in proxies.items():
            up = dnsperf.start(upstream_cmd, up_port, core=1, env=env)
            proxy = dnsperf.start(cmd, fw_port, core=0, env=env)
            try:
                results[name].append(dnsperf.run(fw_port, QUERIES, args.seconds, core=1, pid=proxy.pid))
            finally:
                dnsperf.stop(proxy)
                dnsperf.stop(up)
    rows = {k: dnsperf.medians(v) for k, v in results.items()}
    print(f"dnsperf {args.seconds:g}s x {args.rounds} rounds")
    print(dnsperf.table(rows))
    if "dnsdist" in rows:
        base = rows["dnsdist"].cpu_us
        for name in proxies:
            if name != "dnsdist":
                print(f"cpu per query {name} / dnsdist: {rows[name].cpu_us / base:.2f}")
    print(f"qps expire 10s / new socket per query: {rows[EXPIRE].qps / rows['skydns forward'].qps:.2f}")


if __name__ == "__main__":
    if not shutil.which("dnsperf"):
        sys.exit("dnsperf is not installed (Debian: apt-get install dnsperf)")
    main()
