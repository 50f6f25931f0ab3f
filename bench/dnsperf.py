"""Run dnsperf against a server and read queries per second and latency percentiles.

Shared by every benchmark in bench/: the server is pinned to one core and
dnsperf to the other (``taskset``), cases are interleaved over several
rounds, and medians are reported, because the machines are shared and noisy.
"""
from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import dns.message
import dns.query

from skydns.testing import free_port  # noqa: F401  (used by the benchmarks through this module)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)


@dataclass
class Result:
    qps: float
    p50_ms: float
    p99_ms: float
    lost: int
    cpu_us: float | None = None  # server CPU time per answered query (user + system), when its pid was given


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        sys.exit(f"{tool} is not installed (Debian: apt-get install {tool})")
    return path


def pinned(cmd: list[str], core: int | None) -> list[str]:
    if core is not None and shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(core)] + cmd
    return cmd


def start(cmd: list[str], port: int, core: int = 0, env=None, probe: str = "example.org.") -> subprocess.Popen:
    """Start a server process pinned to ``core`` and wait until it answers ``probe`` on ``port``."""
    # From a neutral directory: the current one comes first on a child's sys.path (before PYTHONPATH),
    # so a server started from a checkout would import that checkout whatever PYTHONPATH names.
    proc = subprocess.Popen(pinned(cmd, core), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            cwd=tempfile.gettempdir())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server {' '.join(cmd)} exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            dns.query.udp(dns.message.make_query(probe, "A"), "127.0.0.1", port=port, timeout=0.2)
            return proc
        except Exception:
            time.sleep(0.1)
    proc.kill()
    sys.exit(f"server {' '.join(cmd)} did not answer on port {port}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(port: int, queries: list[str], seconds: float, core: int = 1, edns: bool = False,
        clients: int = 1, outstanding: int = 100, dnssec: bool = False, pid: int | None = None,
        options: tuple[str, ...] = (), mode: str = "udp", qps_limit: int | None = None) -> Result:
    """One dnsperf run; latencies come from its per-query (-v) lines.

    With the server's ``pid``, also its CPU time per answered query: unlike QPS, that
    figure hardly moves when another tenant takes the server's core for a while.
    """
    require("dnsperf")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(queries) + "\n")
        qfile = f.name
    cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-l", str(seconds),
           "-c", str(clients), "-q", str(outstanding), "-v"]
    if edns or dnssec:
        cmd.append("-e")
    if dnssec:
        cmd.append("-D")
    for option in options:  # EDNS options, CODE:HEX (a DNS cookie: 10:...)
        cmd += ["-E", option]
    if qps_limit:  # a steady load instead of as many as the server answers
        cmd += ["-Q", str(qps_limit)]
    if mode != "udp":  # tcp, dot, doh: connections kept for the whole run
        cmd += ["-m", mode]
        if mode == "doh":
            cmd += ["-O", f"doh-uri=https://127.0.0.1:{port}/dns-query"]
    with tempfile.TemporaryFile("w+") as out:
        cpu_before = cpu_seconds(pid) if pid else None
        subprocess.run(pinned(cmd, core), stdout=out, stderr=subprocess.STDOUT, check=True)
        cpu = cpu_seconds(pid) - cpu_before if pid else None
        out.seek(0)
        lat = []
        qps = lost = completed = None
        for line in out:
            if line.startswith("> "):
                try:
                    lat.append(float(line.rsplit(" ", 1)[1]))
                except ValueError:
                    pass  # a line without a latency (a timed-out query)
            elif "Queries per second:" in line:
                qps = float(line.split(":")[1])
            elif "Queries completed:" in line:
                completed = int(re.search(r"(\d+)", line.split(":")[1]).group(1))
            elif "Queries lost:" in line:
                lost = int(re.search(r"(\d+)", line.split(":")[1]).group(1))
    os.unlink(qfile)
    lat.sort()
    if not lat or qps is None:
        sys.exit("dnsperf produced no results")
    cpu_us = cpu * 1e6 / completed if cpu is not None and completed else None
    return Result(qps, lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000, lost or 0, cpu_us)


def run_pair(servers, queries: list[str], seconds: float, core: int = 1, probe: str = "example.org.",
             **kwargs) -> tuple[Result, Result]:
    """Start two servers on core 0, run one dnsperf against each at the same moment, stop them.

    ``servers``: two ``(cmd, port, env)``. The kernel gives two busy processes on a
    core equal time, so the ratio of their QPS is the inverse ratio of their costs
    per query, and whatever else the machine does at that moment slows both alike:
    a far steadier ratio than two runs one after the other on a shared machine.
    """
    import threading

    procs = []
    try:
        for cmd, port, env in servers:
            procs.append(start(cmd, port, core=0, env=env, probe=probe))
        out: list = [None, None]

        def one(i):
            out[i] = run(servers[i][1], queries, seconds, core=core, pid=procs[i].pid, **kwargs)
        threads = [threading.Thread(target=one, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for proc in procs:
            stop(proc)
    if None in out:
        sys.exit("a paired dnsperf run failed")
    return out[0], out[1]


def medians(results: list[Result]) -> Result:
    cpu = [r.cpu_us for r in results if r.cpu_us is not None]
    return Result(statistics.median(r.qps for r in results), statistics.median(r.p50_ms for r in results),
                  statistics.median(r.p99_ms for r in results), sum(r.lost for r in results),
                  statistics.median(cpu) if cpu else None)


def table(rows: dict[str, Result]) -> str:
    cpu = any(r.cpu_us is not None for r in rows.values())
    w = max([34] + [len(name) for name in rows])
    head = f"{'case':<{w}} {'qps':>10} {'p50 ms':>8} {'p99 ms':>8} {'lost':>6}"
    lines = [head + (f" {'cpu us/q':>9}" if cpu else "")]
    for name, r in rows.items():
        line = f"{name:<{w}} {r.qps:>10.0f} {r.p50_ms:>8.3f} {r.p99_ms:>8.3f} {r.lost:>6}"
        if cpu:
            line += f" {r.cpu_us:>9.2f}" if r.cpu_us is not None else f" {'-':>9}"
        lines.append(line)
    return "\n".join(lines)
